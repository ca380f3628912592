"""Benchmark: what ``grade batch --gradebook`` costs over the same batch without it.

Goals (issue 15): a batch that also writes nbgrader's gradebook (auto scores, autograded
notebooks) takes under 10 % longer than the same batch without it, and running it again with
nothing changed touches nothing: no longer than a batch rerun without the gradebook.

The class is N submissions of Lab 2 in an nbgrader course that ``grade release lab2 --course``
set up: the released notebook with the solution's answers typed back in, in nbgrader's
``submitted/<student>/<assignment>/`` layout, with a ``timestamp.txt`` each. The script times,
in one run:

1. ``grade batch`` without the gradebook, into a fresh output folder;
2. the same with ``--gradebook COURSE``, into another fresh folder (a fresh gradebook);
3. (2) again, nothing changed;
4. (1) again, nothing changed.

Everything lives in a temporary folder, removed at the end.

    python benchmarks/gradebook.py                  # 40 students
    python benchmarks/gradebook.py --students 10 --jobs 2
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click
from _bench import (
    LAB2_FOLDER,
    ROOT,
    Timed,
    goals_table,
    grade_command,
    timed_run,
    type_solution,
    verdict,
    wide_console,
)

OVERHEAD_GOAL = 0.10


@click.command()
@click.option("--students", default=40, show_default=True, type=click.IntRange(min=1))
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="grade batch's --jobs.")
def main(students: int, jobs: int | None) -> None:
    console = wide_console()
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-") as scratch:
        course = Path(scratch) / "course"
        with console.status("releasing Lab 2 into an nbgrader course"):
            released = _release(course)
            _submit(released, course / "submitted", students)
        runs: dict[str, Timed] = {}
        for name, out, gradebook in (
            ("batch", "plain", False),
            ("batch --gradebook", "with", True),
            ("batch --gradebook, again", "with", True),
            ("batch, again", "plain", False),
        ):
            with console.status(f"grade {name}: {students} submissions"):
                runs[name] = _batch(course, Path(scratch) / out, jobs, gradebook=gradebook)
            if (failure := runs[name].failure()) is not None:
                console.print(f"[red]grade {name} failed[/red] ({failure})")
                return
    table = goals_table(f"grade batch --gradebook, {students} submissions of Lab 2")
    plain, written = runs["batch"].seconds, runs["batch --gradebook"].seconds
    again, plain_again = runs["batch --gradebook, again"].seconds, runs["batch, again"].seconds
    overhead = written / plain - 1
    table.add_row(
        "the gradebook's cost",
        f"{written:.1f} s against {plain:.1f} s",
        f"<= {OVERHEAD_GOAL:.0%} more",
        f"{overhead:+.0%}",
        verdict(overhead <= OVERHEAD_GOAL),
    )
    table.add_row(
        "a rerun with nothing changed",
        f"{again:.1f} s against {plain_again:.1f} s",
        "no longer than without",
        f"{again / plain_again:.2f}x",
        verdict(again <= plain_again * (1 + OVERHEAD_GOAL)),
    )
    console.print(table)


def _release(course: Path) -> Path:
    command = [*grade_command(), "release", "lab2", "--course", str(course)]
    timed = timed_run(command, cwd=ROOT)
    if (failure := timed.failure()) is not None:
        raise SystemExit(f"grade release failed ({failure})")
    return course / "release" / LAB2_FOLDER / f"{LAB2_FOLDER}.ipynb"


def _submit(released: Path, submitted: Path, students: int) -> None:
    """The released notebook with the solution's answer cells, once per student."""
    notebook = json.loads(released.read_text(encoding="utf-8"))
    type_solution(notebook)
    for number in range(students):
        folder = submitted / f"student{number + 1:03d}" / LAB2_FOLDER
        folder.mkdir(parents=True)
        (folder / released.name).write_text(json.dumps(notebook), encoding="utf-8")
        (folder / "timestamp.txt").write_text("2025-09-15 09:30:00.000000 UTC\n")


def _batch(course: Path, out: Path, jobs: int | None, *, gradebook: bool) -> Timed:
    command = [*grade_command(), "batch", str(course / "submitted"), "--lab", "lab2"]
    command += ["--out", str(out), "--device", "cpu", *(["--jobs", str(jobs)] if jobs else [])]
    command += ["--gradebook", str(course)] if gradebook else []
    return timed_run(command, cwd=ROOT, env={**os.environ})


if __name__ == "__main__":
    main()
