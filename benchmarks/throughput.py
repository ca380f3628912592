"""Benchmark: class throughput of ``grade batch`` against ``nbgrader autograde``.

Goal (issue 6): ``grade batch``, workers fully isolated, grades a class at least 20 times as
fast as ``nbgrader autograde`` grades the same submissions of an equivalent notebook, measured
in the same run on the same machine.

The equivalent notebook is what a typical nbgrader assignment on Lab 2's first activations
looks like: the import cell and the Sigmoid, Tanh, ReLU and Softmax answer cells of Lab 2's
solution notebook, each followed by an autograder test cell of plain asserts against PyTorch's
own function (forward values and the gradient of a weighted sum, on a few inputs). nbgrader
releases it (generate_assignment); the submissions are the released notebook with the solution
typed back in, some with a planted bug, in nbgrader's ``submitted/<student>/<assignment>/``
layout. ``nbgrader autograde`` then runs every submission's notebook in a kernel, and
``grade batch --exercise ...`` grades the same four exercises of the same files with deepgrade's
full Lab 2 checks, hidden ones included. Both run on the CPU. Everything lives in a temporary
folder, removed at the end.

    python benchmarks/throughput.py                 # 40 students
    python benchmarks/throughput.py --students 10 --jobs 2
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import nbformat
from _bench import (
    LAB2_BUGS,
    LAB2_FOLDER,
    LAB2_SOLUTION_NB,
    ROOT,
    Timed,
    goals_table,
    grade_command,
    plant_bug,
    timed_run,
    verdict,
    wide_console,
)

from deepgrade.sandbox.isolation import bubblewrap_problem

GOAL_RATIO = 20.0
POINTS = 2.0
# Exercise id -> (the answer cell's class, the test cell's call of the student's function,
# the PyTorch reference, the inputs).
EXERCISES: dict[str, tuple[str, str, str, str]] = {
    "lab2.sigmoid": (
        "Sigmoid",
        "sigmoid",
        "torch.sigmoid",
        "[[-1e4, -30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0, 1e4], [[0.1, -0.2], [3.0, -4.0]]]",
    ),
    "lab2.tanh": (
        "Tanh",
        "tanh",
        "torch.tanh",
        "[[-1e3, -3.0, -0.5, 0.0, 1e-8, 0.5, 3.0, 1e3], [[0.1, -0.2], [3.0, -4.0]]]",
    ),
    "lab2.relu": ("ReLU", "relu", "torch.relu", "[[-2.0, -0.5, 0.0, 0.5, 2.0]]"),
    "lab2.softmax": (
        "Softmax",
        "softmax",
        "lambda t: torch.softmax(t, dim=-1)",
        "[[-1.0, 0.0, 1.0], [[1.0, 2.0, 3.0], [1000.0, 1001.0, 1002.0]]]",
    ),
}
# The test cell an instructor would write: values, then the gradient of a weighted sum (a plain
# .sum() would hide a backward that ignores grad_output; a zero weight, the gradient there).
TEST_CELL = """\
for values in {inputs}:
    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    y, y_ref = {call}(x), ({reference})(x_ref)
    assert torch.allclose(y, y_ref, equal_nan=True), (values, y, y_ref)
    weights = torch.linspace(0.5, 1.5, y.numel(), dtype=y.dtype).reshape(y.shape)
    (y * weights).sum().backward()
    (y_ref * weights).sum().backward()
    assert torch.allclose(x.grad, x_ref.grad, equal_nan=True), (values, x.grad, x_ref.grad)
"""
NOT_IMPLEMENTED = "released stub"
# One student in BUGGY_EVERY gets a bug (or hands in the stub), in turn; the others are right.
BUGGY_EVERY = 4
NBGRADER_CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = "deepgrade-benchmark"
c.Execute.timeout = 120
"""


@dataclass(frozen=True)
class _Outcome:
    """One grader's run over the class: its timing and who got full marks."""

    timed: Timed
    full_marks: set[str]


@click.command()
@click.option("--students", default=40, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="grade batch's --jobs [default: grade batch's, the number of cores].",
)
def main(students: int, jobs: int | None) -> None:
    console = wide_console()
    problem = bubblewrap_problem()
    isolation = "bubblewrap" if problem is None else "auto"
    if problem is not None:
        console.print(f"[yellow]bubblewrap is not usable here ({problem}): isolation auto[/]")
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-") as scratch:
        course = Path(scratch) / "course"
        with console.status("building the nbgrader course") as status:
            released = _release(course)
            planted = _submit(released, course / "submitted", students)
            status.update(f"nbgrader autograde: {students} submissions")
            nbgrader = _nbgrader_autograde(course, students)
            status.update(f"grade batch: {students} submissions")
            deepgrade = _grade_batch(course / "submitted", Path(scratch) / "out", jobs, isolation)
    for name, outcome in (("nbgrader autograde", nbgrader), ("grade batch", deepgrade)):
        if (failure := outcome.timed.failure()) is not None:
            console.print(f"[red]{name} failed[/red] ({failure})")
            return
    console.print(_table(students, jobs, isolation, nbgrader, deepgrade, planted))


def _table(
    students: int,
    jobs: int | None,
    isolation: str,
    nbgrader: _Outcome,
    deepgrade: _Outcome,
    planted: dict[str, str],
) -> Any:
    ratio = nbgrader.timed.seconds / deepgrade.timed.seconds
    workers = jobs or len(os.sched_getaffinity(0))
    table = goals_table(f"Throughput: {students} submissions of 4 Lab 2 activations")
    table.add_row("nbgrader autograde", _rate(nbgrader.timed, students), "-", "-", "-")
    table.add_row(
        f"grade batch (--jobs {workers}, isolation {isolation})",
        _rate(deepgrade.timed, students),
        f">= {GOAL_RATIO:g} x nbgrader",
        f"{ratio:.1f} x",
        verdict(ratio >= GOAL_RATIO),
    )
    expected = {s for s in planted if planted[s] == ""}
    for name, outcome in (("nbgrader", nbgrader), ("deepgrade", deepgrade)):
        wrong = sorted(outcome.full_marks ^ expected)
        if wrong:
            listed = ", ".join(f"{s} ({planted[s] or 'correct'})" for s in wrong)
            table.add_row(f"[yellow]warning: {name} disagrees on[/]", listed, "", "", "")
    agree = nbgrader.full_marks == deepgrade.full_marks
    table.add_row(
        "both agree on who has full marks",
        f"{len(deepgrade.full_marks)} of {students} full marks",
        "agree",
        "-",
        verdict(agree),
    )
    return table


def _rate(timed: Timed, students: int) -> str:
    return (
        f"{timed.seconds:.1f} s, {timed.seconds / students:.2f} s/submission, "
        f"{60 * students / timed.seconds:.0f} submissions/min"
    )


def _release(course: Path) -> Path:
    """Write the equivalent notebook into a new nbgrader course and release it with nbgrader."""
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG, encoding="utf-8")
    source = course / "source" / LAB2_FOLDER / f"{LAB2_FOLDER}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(_equivalent_notebook(), source)  # type: ignore[no-untyped-call]
    command = [*_nbgrader(), "generate_assignment", LAB2_FOLDER, "--force"]
    timed = timed_run(command, cwd=course, env=_nbgrader_env())
    if (failure := timed.failure()) is not None:
        raise SystemExit(f"nbgrader generate_assignment failed ({failure})")
    return course / "release" / LAB2_FOLDER / f"{LAB2_FOLDER}.ipynb"


def _equivalent_notebook() -> Any:
    solution = nbformat.read(LAB2_SOLUTION_NB, as_version=4)  # type: ignore[no-untyped-call]
    code = [cell for cell in solution.cells if cell.cell_type == "code"]
    cells = [
        nbformat.v4.new_markdown_cell(  # type: ignore[no-untyped-call]
            "# Lab 2: activation functions (benchmark excerpt)"
        ),
        code[0],  # the imports
    ]
    for exercise, (cls, call, reference, inputs) in EXERCISES.items():
        cells.append(next(cell for cell in code if f"class {cls}(" in cell.source))
        test = TEST_CELL.format(call=call, reference=reference, inputs=inputs)
        meta = {
            "grade": True,
            "grade_id": f"test_{exercise.replace('.', '_')}",
            "locked": True,
            "points": POINTS,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
        cells.append(
            nbformat.v4.new_code_cell(test, metadata={"nbgrader": meta})  # type: ignore[no-untyped-call]
        )
    return nbformat.v4.new_notebook(  # type: ignore[no-untyped-call]
        cells=cells, metadata=solution.metadata
    )


def _submit(released: Path, submitted: Path, students: int) -> dict[str, str]:
    """Hand in one notebook per student; returns each student's planted bug ('' for none)."""
    solution = {
        cell.metadata.nbgrader.grade_id: cell.source
        for cell in nbformat.read(LAB2_SOLUTION_NB, as_version=4).cells  # type: ignore[no-untyped-call]
        if "nbgrader" in cell.metadata
    }
    variants = [*LAB2_BUGS, NOT_IMPLEMENTED]
    planted: dict[str, str] = {}
    for number in range(students):
        student = f"student{number + 1:03d}"
        buggy = number % BUGGY_EVERY == BUGGY_EVERY - 1
        planted[student] = variants[(number // BUGGY_EVERY) % len(variants)] if buggy else ""
        notebook = nbformat.read(released, as_version=4)  # type: ignore[no-untyped-call]
        if planted[student] != NOT_IMPLEMENTED:
            _answer(notebook, solution, LAB2_BUGS.get(planted[student]))
        target = submitted / student / LAB2_FOLDER / f"{LAB2_FOLDER}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(notebook, target)  # type: ignore[no-untyped-call]
    return planted


def _answer(notebook: Any, solution: dict[str, str], bug: tuple[str, str] | None) -> None:
    """Type the solution into the notebook's answer cells, with ``bug`` planted if given."""
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            cell.source = solution[meta["grade_id"]]
    if bug is not None:
        plant_bug(notebook, bug)


def _nbgrader() -> list[str]:
    return [sys.executable, "-m", "nbgrader"]


def _nbgrader_env() -> dict[str, str]:
    """nbgrader runs ``alembic`` by name: find this environment's, as if it were activated."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")])}


def _nbgrader_autograde(course: Path, students: int) -> _Outcome:
    from nbgrader.api import Gradebook, MissingEntry

    command = [*_nbgrader(), "autograde", LAB2_FOLDER, "--force"]
    timed = timed_run(command, cwd=course, env=_nbgrader_env())
    full_marks: set[str] = set()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for number in range(students):
            student = f"student{number + 1:03d}"
            try:
                submission = gradebook.find_submission(LAB2_FOLDER, student)
            except MissingEntry:
                continue
            if submission.score == submission.max_score:
                full_marks.add(student)
    return _Outcome(timed, full_marks)


def _grade_batch(submitted: Path, out: Path, jobs: int | None, isolation: str) -> _Outcome:
    command = [*grade_command(), "batch", str(submitted), "--lab", "lab2", "--out", str(out)]
    command += [arg for exercise in EXERCISES for arg in ("--exercise", exercise)]
    command += ["--device", "cpu", *(["--jobs", str(jobs)] if jobs else [])]
    env = {**os.environ, "DEEPGRADE_ISOLATION": isolation}
    timed = timed_run(command, cwd=ROOT, env=env)
    full_marks: set[str] = set()
    if (out / "grades.csv").is_file():
        with (out / "grades.csv").open(newline="", encoding="utf-8") as grades:
            full_marks = {row["student"] for row in csv.DictReader(grades) if _full(row)}
    return _Outcome(timed, full_marks)


def _full(row: dict[str, str]) -> bool:
    return row["status"] == "graded" and float(row["total"]) == float(row["max_score"])


if __name__ == "__main__":
    main()
