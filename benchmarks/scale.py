"""Benchmark: ``grade batch`` on a large class of Lab 2, its wall time and its memory over time.

Goal (issue 6): the grader's memory does not grow with the number of submissions. The class is
N complete Lab 2 notebooks (Lab 2's solution, and in one of four a planted bug), one notebook
per student, graded on the CPU with the isolation that ``DEEPGRADE_ISOLATION`` asks for (auto
by default). Every 0.2 s the script reads, from /proc, the resident memory (RSS, and PSS, which
splits pages shared between processes among them) of

- the ``grade batch`` process itself, which hands out submissions and writes every record;
- its grader processes: the children of its fork server (multiprocessing's, which it starts
  first; both show the server's command line), added up. Not counted: the fork server itself,
  multiprocessing's resource tracker, and whatever runs below a grader or beside it
  (bubblewrap, the sandboxed workers that run students' code, worker templates): those hold one
  submission at a time under the workers' memory limit and are replaced as grading goes on, so
  they cannot accumulate across the class.

Each sample also counts the records already written, which places it in the class: the peak
while the first 10 % were graded, the peaks of the first and second halves (the memory is
flat when the second is within 10 % of the first), and the peak of the final phase, after the
last record, when grades.csv, the feedback pages and the summary are written.

    python benchmarks/scale.py               # 1000 students (long: up to an hour on 2 cores)
    python benchmarks/scale.py --quick       # 100 students
    python benchmarks/scale.py --students 200 --jobs 2
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import nbformat
from _bench import (
    LAB2_BUGS,
    LAB2_SOLUTION_NB,
    ROOT,
    goals_table,
    grade_command,
    plant_bug,
    verdict,
    wide_console,
)

from deepgrade.sandbox.isolation import isolation_level

QUICK_STUDENTS = 100
SAMPLE_EVERY_S = 0.2
GOAL_GROWTH = 1.10
FIRST_SHARE = 0.10
# One student in BUGGY_EVERY hands in a planted bug, in turn; the others the solution.
BUGGY_EVERY = 4
_KIB = 1024
_MIB = 1 << 20
# The fork server and the graders forked from it show its command line.
_GRADER_MARK = b"multiprocessing.forkserver"


@dataclass(frozen=True)
class _Memory:
    rss: int
    pss: int

    def __add__(self, other: _Memory) -> _Memory:
        return _Memory(self.rss + other.rss, self.pss + other.pss)

    def text(self) -> str:
        return f"{self.rss / _MIB:.0f} / {self.pss / _MIB:.0f} MiB"


_NONE = _Memory(0, 0)


@dataclass(frozen=True)
class _Sample:
    done: int
    batch: _Memory
    graders: _Memory
    grader_count: int


@click.command()
@click.option("--students", default=1000, show_default=True, type=click.IntRange(min=2))
@click.option("--quick", is_flag=True, help=f"{QUICK_STUDENTS} students, for a quick look.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="grade batch's --jobs [default: grade batch's, the number of cores].",
)
def main(students: int, quick: bool, jobs: int | None) -> None:
    console = wide_console()
    if quick:
        students = QUICK_STUDENTS
    isolation = isolation_level(os.environ.get("DEEPGRADE_ISOLATION", "auto"))
    with tempfile.TemporaryDirectory(prefix="deepgrade-scale-") as scratch:
        submitted = Path(scratch) / "class"
        out = Path(scratch) / "out"
        _write_class(submitted, students)
        command = [*grade_command(), "batch", str(submitted), "--lab", "lab2", "--out", str(out)]
        command += ["--device", "cpu", *(["--jobs", str(jobs)] if jobs else [])]
        log = Path(scratch) / "batch.log"
        with console.status(f"grade batch: {students} submissions") as status:
            started = time.perf_counter()
            returncode, samples = _run_sampled(
                command, log, lambda: _records(out / "results"), students, status.update
            )
            seconds = time.perf_counter() - started
        if returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-15:]
            console.print(f"[red]grade batch failed[/red] (exit code {returncode})")
            console.print("\n".join(tail), markup=False)
            return
    workers = jobs or len(os.sched_getaffinity(0))
    alive = max((s.grader_count for s in samples), default=0)
    title = f"Scale: {students} Lab 2 submissions, --jobs {workers}, isolation {isolation}"
    table = goals_table(title)
    table.add_row("wall time", f"{seconds:.0f} s, {students / seconds:.2f} submissions/s", *"---")
    first = [s for s in samples if s.done <= FIRST_SHARE * students]
    halves = (
        [s for s in samples if s.done < students / 2],
        [s for s in samples if students / 2 <= s.done < students],
    )
    final = [s for s in samples if s.done >= students]
    for name, memory in (
        ("grade batch process", lambda s: s.batch),
        (f"grader processes ({alive}, summed)", lambda s: s.graders),
    ):
        early, whole = _peak(first, memory), _peak(samples, memory)
        table.add_row(f"{name}: peak RSS / PSS, first 10 %", early.text(), *"---")
        table.add_row(f"{name}: peak RSS / PSS, whole run", whole.text(), *"---")
        one, two = _peak(halves[0], memory), _peak(halves[1], memory)
        growth = two.rss / one.rss if one.rss else float("nan")
        table.add_row(
            f"{name}: peak RSS, 1st half -> 2nd half",
            f"{one.rss / _MIB:.0f} -> {two.rss / _MIB:.0f} MiB",
            f"<= {GOAL_GROWTH:g} x",
            f"{growth:.2f} x",
            verdict(growth <= GOAL_GROWTH),
        )
    table.add_row(
        "grade batch process: peak RSS / PSS, final reports",
        _peak(final, lambda s: s.batch).text(),
        *"---",
    )
    console.print(table)
    console.print(f"{len(samples)} samples, one every {SAMPLE_EVERY_S:g} s")


def _write_class(folder: Path, students: int) -> None:
    """One notebook per student: the solution, or in one of BUGGY_EVERY a planted bug."""
    variants: list[bytes] = []
    for bug in (None, *LAB2_BUGS.values()):
        notebook = nbformat.read(LAB2_SOLUTION_NB, as_version=4)  # type: ignore[no-untyped-call]
        if bug is not None:
            plant_bug(notebook, bug)
        variants.append(nbformat.writes(notebook).encode())  # type: ignore[no-untyped-call]
    folder.mkdir(parents=True)
    for number in range(students):
        buggy = number % BUGGY_EVERY == BUGGY_EVERY - 1
        variant = 1 + (number // BUGGY_EVERY) % (len(variants) - 1) if buggy else 0
        (folder / f"student{number + 1:04d}.ipynb").write_bytes(variants[variant])


def _run_sampled(
    command: Sequence[str],
    log: Path,
    done: Callable[[], int],
    students: int,
    report: Callable[[str], None],
) -> tuple[int, list[_Sample]]:
    """Run ``command`` (output to ``log``) and sample its memory until it exits."""
    samples: list[_Sample] = []
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
        while process.poll() is None:
            graders = _graders(process.pid)
            sample = _Sample(
                done(),
                _memory(process.pid),
                sum((_memory(pid) for pid in graders), _NONE),
                len(graders),
            )
            samples.append(sample)
            report(f"grade batch: {sample.done} of {students} graded")
            time.sleep(SAMPLE_EVERY_S)
    return process.returncode, samples


def _records(results: Path) -> int:
    """Records written so far (a record being written is a hidden temporary file)."""
    if not results.is_dir():
        return 0
    return sum(1 for e in os.scandir(results) if e.name.endswith(".json") and e.name[0] != ".")


def _graders(batch: int) -> list[int]:
    """The grader processes of the batch process ``batch``: the children of its fork server."""
    servers = _children(batch, _GRADER_MARK)
    return [grader for server in servers for grader in _children(server, _GRADER_MARK)]


def _children(parent: int, mark: bytes) -> list[int]:
    """The processes whose parent is ``parent`` and whose command line holds ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # The command name in parentheses may hold spaces: the parent follows the last ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) != parent:
                continue
            if mark in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue  # it ended while being read
    return found


def _memory(pid: int) -> _Memory:
    """The resident and proportional set sizes of ``pid``, zero once it has ended."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return _NONE
    fields = dict(_fields(rollup.splitlines()[1:]))
    return _Memory(fields.get("Rss", 0), fields.get("Pss", 0))


def _fields(lines: Iterable[str]) -> Iterable[tuple[str, int]]:
    for line in lines:
        name, _, value = line.partition(":")
        words = value.split()
        if len(words) == 2 and words[1] == "kB":
            yield name, int(words[0]) * _KIB


def _peak(samples: Sequence[_Sample], memory: Callable[[_Sample], _Memory]) -> _Memory:
    if not samples:
        return _NONE
    return _Memory(max(memory(s).rss for s in samples), max(memory(s).pss for s in samples))


if __name__ == "__main__":
    main()
