"""Benchmark: how long a released notebook's check cells take in a live Jupyter kernel.

Goals (issue 18, goal 3): in a kernel that has run Lab 2's cells, the first check cell answers
in at most 1.5 s and each later one in at most 0.3 s. The script releases Lab 2 as a student
receives it (``grade release lab2 --to``), types the solution into its answer cells, starts a
kernel of this environment's Python with nbclient and runs the notebook top to bottom, timing
each check cell (``score("lab2.sigmoid")`` and the like: what a check cell runs) from the
request to the kernel's reply; then runs every check cell again ``--rounds`` - 1 more times, as
a student who checks again does. For each it also takes the CPU time of the kernel and
everything under it (worker template, workers), which the load of a shared machine inflates
less than the wall time.

``--checks release`` (the default) grades with the checks the notebook carries, as on a
student's machine: this editable checkout's own course folder is hidden from the kernel
(``deepgrade.model.spec.BUNDLED_AUTOGRADER``). ``--checks course`` grades with the course's
checks, references and hidden ones included, as a TA's kernel in the checkout does.

``--known-file`` (the default) tells the kernel its notebook file, as Jupyter's server and VS
Code do (``JPY_SESSION_NAME``): the check cells then leave out the cells that grading the file
leaves out (plots); ``--unknown-file`` does not (a bare kernel; Colab).

``--profile FOLDER`` writes cProfile's statistics of the kernel (the grader's side only: the
worker is another process) for the first check cell (``first.prof``) and the later ones
(``later.prof``), and prints the functions that took most of it.

    python benchmarks/kernel.py
    python benchmarks/kernel.py --rounds 3 --checks course --profile /tmp/kernel-prof
"""

from __future__ import annotations

import json
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import nbformat
from _bench import (
    LAB2_FOLDER,
    ROOT,
    goals_table,
    grade_command,
    timed_run,
    type_solution,
    verdict,
    wide_console,
)
from nbclient import NotebookClient

FIRST_GOAL_SECONDS = 1.5
LATER_GOAL_SECONDS = 0.3
_TICKS = os.sysconf("SC_CLK_TCK")
_PROFILED = ("first", "later")
# Run in the kernel before the notebook. Its text names deepgrade, so the check cells leave it
# out of the code they grade (check_cell._runnable), as they do with check cells themselves.
_SETUP = """\
import deepgrade.model.spec
from pathlib import Path
if {hide_course}:
    deepgrade.model.spec.BUNDLED_AUTOGRADER = Path("/nonexistent/deepgrade-course")
"""
# Profiles each check cell: the first one into one profile, the later ones into another.
_PROFILE = """\
import cProfile as _deepgrade_cprofile
_deepgrade_profiles = {name: _deepgrade_cprofile.Profile() for name in ("first", "later")}
_deepgrade_checked = []
def _deepgrade_pre(info):
    if "score(" in (info.raw_cell or "") and "_deepgrade" not in info.raw_cell:
        _deepgrade_checked.append(_deepgrade_profiles["later" if _deepgrade_checked else "first"])
        _deepgrade_checked[-1].enable()
def _deepgrade_post(result):
    if _deepgrade_checked:
        _deepgrade_checked[-1].disable()
get_ipython().events.register("pre_run_cell", _deepgrade_pre)
get_ipython().events.register("post_run_cell", _deepgrade_post)
"""
_DUMP = """\
get_ipython().events.unregister("pre_run_cell", _deepgrade_pre)
get_ipython().events.unregister("post_run_cell", _deepgrade_post)
for _deepgrade_name, _deepgrade_profile in _deepgrade_profiles.items():
    _deepgrade_profile.dump_stats({folder!r} + "/" + _deepgrade_name + ".prof")
"""


@dataclass
class CheckTiming:
    """One run of one check cell: which exercise, wall and CPU seconds, what it printed."""

    exercise: str
    seconds: float
    cpu: float
    output: str


@dataclass
class Run:
    timings: list[CheckTiming] = field(default_factory=list)
    checks_cell: CheckTiming | None = None
    """The notebook's checks cell (``use_checks``), which prepares the check cells."""

    @property
    def first(self) -> CheckTiming:
        return self.timings[0]

    @property
    def later(self) -> list[CheckTiming]:
        return self.timings[1:]


def _tree_cpu(root: int) -> float:
    """CPU seconds (user and system) of ``root`` and every process under it, reaped children
    included: the kernel, the worker template and the workers it forked."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # a process that ended meanwhile
        fields = text.rsplit(")", 1)[1].split()
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        cpu[pid] = sum(int(f) for f in fields[11:15]) / _TICKS
    under = {root}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in under} - under
        grew = bool(more)
        under |= more
    return sum(cpu.get(pid, 0.0) for pid in under)


def _text(cell: Any) -> str:
    parts = [output.get("text", "") for output in cell.get("outputs", [])]
    parts += ["".join(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", [])]
    return "".join(parts)


def _exercise(cell: Any) -> str | None:
    """The exercise a check cell of the release grades (an nbgrader test cell), or ``None``."""
    if not cell.metadata.get("nbgrader", {}).get("grade") or "score(" not in cell.source:
        return None
    return str(cell.source.split("score(", 1)[1].split('"')[1])


def _release(scratch: Path) -> Path:
    timed = timed_run([*grade_command(), "release", "lab2", "--to", str(scratch)], cwd=ROOT)
    if (failure := timed.failure()) is not None:
        raise SystemExit(f"grade release failed ({failure})")
    released = scratch / LAB2_FOLDER / f"{LAB2_FOLDER}.ipynb"
    data = json.loads(released.read_text(encoding="utf-8"))
    type_solution(data)
    released.write_text(json.dumps(data), encoding="utf-8")
    return released


def _run_kernel(
    notebook_path: Path, rounds: int, *, hide_course: bool, profile: Path | None
) -> Run:
    notebook = nbformat.read(notebook_path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook_path.parent)}},
    )
    run = Run()
    with client.setup_kernel():
        assert client.km is not None
        # A local kernel's provisioner knows its process (the only kind this script starts).
        kernel: int | None = getattr(client.km.provisioner, "pid", None)
        if kernel is None:
            raise SystemExit("cannot tell the kernel's process id")

        setup = [_SETUP.format(hide_course=hide_course), *([_PROFILE] if profile else [])]
        # Cells of the notebook, before its own: nbclient writes outputs into its cells.
        notebook.cells[:0] = [nbformat.v4.new_code_cell(source) for source in setup]  # type: ignore[no-untyped-call]
        checks: list[tuple[int, str]] = []

        def timed(index: int, exercise: str) -> CheckTiming:
            cell = notebook.cells[index]
            cpu = _tree_cpu(kernel)
            started = time.perf_counter()
            client.execute_cell(cell, index)
            seconds = time.perf_counter() - started
            return CheckTiming(exercise, seconds, _tree_cpu(kernel) - cpu, _text(cell))

        def check(index: int, exercise: str) -> None:
            run.timings.append(timed(index, exercise))

        # Top to bottom, as a student works; then the check cells again, as one checking again.
        for index, cell in enumerate(notebook.cells):
            exercise = _exercise(cell)
            if "use_checks(" in cell.source and run.checks_cell is None:
                run.checks_cell = timed(index, "checks cell")
            elif exercise is None:
                client.execute_cell(cell, index)
            else:
                checks.append((index, exercise))
                check(index, exercise)
        for _ in range(rounds - 1):
            for index, exercise in checks:
                check(index, exercise)
        if profile is not None:
            dump = _DUMP.format(folder=str(profile))
            notebook.cells.append(nbformat.v4.new_code_cell(dump))  # type: ignore[no-untyped-call]
            client.execute_cell(notebook.cells[-1], len(notebook.cells) - 1)
    return run


def _summary(timings: Sequence[CheckTiming]) -> tuple[str, float]:
    seconds = [t.seconds for t in timings]
    cpu = statistics.median(t.cpu for t in timings)
    median = statistics.median(seconds)
    text = f"median {median:.2f} s, max {max(seconds):.2f} s (CPU median {cpu:.2f} s)"
    return text, median


@click.command()
@click.option(
    "--rounds",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many times every check cell runs.",
)
@click.option(
    "--checks",
    type=click.Choice(["release", "course"]),
    default="release",
    show_default=True,
    help="The notebook's own checks, or the course's.",
)
@click.option(
    "--known-file/--unknown-file",
    default=True,
    show_default=True,
    help="Whether the kernel is told its notebook file, as Jupyter's server and VS Code do "
    "(JPY_SESSION_NAME), or not, as with a bare kernel.",
)
@click.option(
    "--profile",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write cProfile statistics of the kernel into this folder.",
)
def main(rounds: int, checks: str, known_file: bool, profile: Path | None) -> None:
    console = wide_console()
    load = os.getloadavg()[0]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        profile = profile.resolve()
    os.environ.setdefault("MPLBACKEND", "Agg")
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-") as scratch:
        with console.status("releasing Lab 2"):
            released = _release(Path(scratch))
        if known_file:
            os.environ["JPY_SESSION_NAME"] = str(released)
        with console.status("running the notebook in a kernel"):
            run = _run_kernel(released, rounds, hide_course=checks == "release", profile=profile)
    failed = [t for t in run.timings if "passed" not in t.output or "Error" in t.output]
    for timing in failed:
        console.print(f"[red]{timing.exercise} did not pass[/red]:\n{timing.output[-1500:]}")
    first = run.first
    isolation = [line for line in first.output.splitlines() if "isolation" in line]
    console.print(*isolation[:1], f"the kernel knows its notebook file: {known_file}")
    table = goals_table(
        f"Check cells in a kernel, Lab 2 solution, {checks} checks, {len(run.timings)} runs "
        f"(load average {load:.1f} at the start)"
    )
    table.add_row(
        f"first check cell ({first.exercise})",
        f"{first.seconds:.2f} s (CPU {first.cpu:.2f} s)",
        f"<= {FIRST_GOAL_SECONDS:g} s",
        f"{first.seconds / FIRST_GOAL_SECONDS:.2f} x goal",
        verdict(first.seconds <= FIRST_GOAL_SECONDS),
    )
    if run.later:
        text, median = _summary(run.later)
        table.add_row(
            f"later check cells ({len(run.later)})",
            text,
            f"<= {LATER_GOAL_SECONDS:g} s",
            f"{median / LATER_GOAL_SECONDS:.2f} x goal",
            verdict(median <= LATER_GOAL_SECONDS),
        )
    if run.checks_cell is not None:
        took = run.checks_cell
        table.add_row(
            "the checks cell", f"{took.seconds:.2f} s (CPU {took.cpu:.2f} s)", "-", "-", "-"
        )
    console.print(table)
    per_exercise = goals_table("Each check cell: wall seconds per round (CPU seconds)")
    by_exercise: dict[str, list[CheckTiming]] = {}
    for timing in run.timings:
        by_exercise.setdefault(timing.exercise, []).append(timing)
    for exercise, timings in by_exercise.items():
        figures = ", ".join(f"{t.seconds:.2f} ({t.cpu:.2f})" for t in timings)
        per_exercise.add_row(exercise, figures, "-", "-", "-")
    console.print(per_exercise)
    if profile is not None:
        for name in _PROFILED:
            console.print(f"[bold]{name} check cell(s): {profile / name}.prof[/bold]")
            stats = pstats.Stats(str(profile / f"{name}.prof"))
            stats.sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
