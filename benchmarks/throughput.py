"""Benchmark: class throughput of ``grade batch`` against nbgrader and Otter-Grader.

Goal (issue 18): ``grade batch``, workers fully isolated, grades a class at least 20 times as
fast as ``nbgrader autograde`` and at least 20 times as fast as ``otter run`` grade the same
submissions of an equivalent assignment, measured in the same run on the same machine, each
peer using the cores as its users do, and all three agreeing on who has full marks.

The equivalent assignment is what a typical nbgrader or Otter assignment on Lab 2's first
activations looks like: the import cell and the Sigmoid, Tanh, ReLU and Softmax answer cells of
Lab 2's solution notebook, each followed by plain asserts against PyTorch's own function
(forward values and the gradient of a weighted sum): visible tests on a few inputs and hidden
tests on unusual ones (extreme values, a 3-d input, softmax along a middle dim).

- nbgrader: the notebook, hidden tests in ``### BEGIN HIDDEN TESTS`` regions, is released with
  ``nbgrader generate_assignment``; nbgrader has no parallel mode, so the class is split into
  ``--jobs`` shares, each in its own copy of the course (its own gradebook: no shared writes),
  and one ``nbgrader autograde`` per share runs at the same time.
- Otter-Grader: the same cells in Otter's notebook format (assignment config, ``# BEGIN
  QUESTION`` / ``SOLUTION`` / ``TESTS`` cells, hidden test cells) are built with ``otter
  assign``; each submission is graded with ``otter run`` (no Docker), ``--jobs`` at a time.
  Otter lives in a virtual environment of its own (``--otter-env``, created when missing), so
  that its dependencies (dill, which PyTorch imports when present) never change what deepgrade
  runs with.
- deepgrade: ``grade batch --exercise ...`` grades the nbgrader submissions with Lab 2's full
  checks of those four exercises, hidden ones included.

Each student hands in the released notebook (nbgrader's, Otter's) with the solution typed back
in; one student in four instead has a planted bug, some of which only hidden tests catch, or
hands in the stub. Everything runs on the CPU, in a temporary folder removed at the end.

    python benchmarks/throughput.py                 # 40 students
    python benchmarks/throughput.py --students 10 --jobs 2
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click
import nbformat
from _bench import (
    LAB2_BUGS,
    LAB2_FOLDER,
    LAB2_HIDDEN_BUGS,
    LAB2_SOLUTION_NB,
    ROOT,
    Timed,
    activated_env,
    goals_table,
    grade_command,
    plant_bug,
    timed_pool,
    timed_run,
    verdict,
    wide_console,
)
from rich.console import Console
from rich.table import Table

from deepgrade.sandbox.isolation import bubblewrap_problem

GOAL_RATIO = 20.0
POINTS = 2.0
OTTER_REQUIREMENT = "otter-grader[grading]>=7,<8"
DEFAULT_OTTER_ENV = ROOT / ".nox" / "otter"


@dataclass(frozen=True)
class _Test:
    """Asserts of one test: the student's function and PyTorch's, called on each input."""

    call: str
    reference: str
    inputs: str

    def source(self) -> str:
        return TEST_CELL.format(call=self.call, reference=self.reference, inputs=self.inputs)


@dataclass(frozen=True)
class _Exercise:
    """One answer cell (found by its class) with its visible and hidden tests."""

    cls: str
    visible: _Test
    hidden: _Test


# The hidden tests hold what the hidden-only bugs get wrong (LAB2_HIDDEN_BUGS): sigmoid at large
# negative inputs and softmax along dim 1 of a 3-d input.
EXERCISES: dict[str, _Exercise] = {
    "lab2.sigmoid": _Exercise(
        "Sigmoid",
        _Test(
            "sigmoid",
            "torch.sigmoid",
            "[[-30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0, 1e4], [[0.1, -0.2], [3.0, -4.0]]]",
        ),
        _Test(
            "sigmoid",
            "torch.sigmoid",
            "[[-1e4, -1e3, -40.0, 40.0, 1e3], [[[-8.0, 3.0], [0.25, -6.0]], [[12.0, -0.75], "
            "[1.5, -20.0]]]]",
        ),
    ),
    "lab2.tanh": _Exercise(
        "Tanh",
        _Test(
            "tanh",
            "torch.tanh",
            "[[-1e3, -3.0, -0.5, 0.0, 1e-8, 0.5, 3.0, 1e3], [[0.1, -0.2], [3.0, -4.0]]]",
        ),
        _Test(
            "tanh",
            "torch.tanh",
            "[[-1e4, 1e4, -5.0, 5.0, -1e-8], [[[-0.3, 2.0], [0.0, -7.0]], [[4.5, -1.25], "
            "[0.75, 20.0]]]]",
        ),
    ),
    "lab2.relu": _Exercise(
        "ReLU",
        _Test("relu", "torch.relu", "[[-2.0, -0.5, 0.0, 0.5, 2.0]]"),
        _Test(
            "relu",
            "torch.relu",
            "[[[[-1.0, 2.0, 0.0], [3.0, -0.5, 1e-3]], [[-2.5, 0.0, 4.0], [-1e4, 1e4, -3.0]]]]",
        ),
    ),
    "lab2.softmax": _Exercise(
        "Softmax",
        _Test(
            "softmax",
            "lambda t: torch.softmax(t, dim=-1)",
            "[[-1.0, 0.0, 1.0], [[1.0, 2.0, 3.0], [1000.0, 1001.0, 1002.0]]]",
        ),
        _Test(
            "lambda t: softmax(t, dim=1)",
            "lambda t: torch.softmax(t, dim=1)",
            "[[[[1.0, -2.0, 0.5, 3.0], [0.0, 2.0, -1.0, 1.0], [4.0, 1.0, -3.0, 0.0]], "
            "[[-1.0, 0.0, 2.0, 1.0], [3.0, -2.0, 0.0, 0.5], [1.0, 1.0, 5.0, -4.0]]]]",
        ),
    ),
}
# The asserts an instructor would write: values, then the gradient of a weighted sum (a plain
# .sum() would hide a backward that ignores grad_output; a zero weight, the gradient there).
TEST_CELL = """\
for values in {inputs}:
    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    y, y_ref = ({call})(x), ({reference})(x_ref)
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
# Otter's defaults otherwise (an init cell, a grader.check cell after each question); no
# export cell: the submissions are the notebooks themselves.
OTTER_CONFIG = f"# ASSIGNMENT CONFIG\nname: {LAB2_FOLDER}\nexport_cell: false\n"


@dataclass(frozen=True)
class _Outcome:
    """One grader's run over the class: its timing and who got full marks.

    ``public_passed``: who passed every public test, where the grader says so apart (Otter).
    """

    timed: Timed
    full_marks: set[str]
    public_passed: set[str] | None = None


@click.command()
@click.option("--students", default=40, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Submissions graded at once by each grader (grade batch's --jobs, otter run "
    "processes, nbgrader shares) [default: the number of cores].",
)
@click.option(
    "--otter-env",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OTTER_ENV,
    show_default=True,
    help=f"Virtual environment with {OTTER_REQUIREMENT} and PyTorch; created when missing.",
)
def main(students: int, jobs: int | None, otter_env: Path) -> None:
    console = wide_console()
    if importlib.util.find_spec("nbgrader") is None:
        raise SystemExit(
            "nbgrader is missing: install the staff extra (pip install -e '.[staff]'), "
            "or run nox -s bench -- throughput.py"
        )
    otter = _otter(otter_env, console)
    workers = jobs or len(os.sched_getaffinity(0))
    problem = bubblewrap_problem()
    isolation = "bubblewrap" if problem is None else "auto"
    if problem is not None:
        console.print(f"[yellow]bubblewrap is not usable here ({problem}): isolation auto[/]")
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-") as scratch:
        folder = Path(scratch)
        course = folder / "course"
        with console.status("building the nbgrader course and the Otter assignment") as status:
            released = _release(course)
            planted = _submit(released, course / "submitted", students)
            autograder, otter_released = _otter_assign(otter, folder / "otter")
            otter_submissions = _otter_submit(otter_released, folder / "otter" / "in", planted)
            status.update(f"nbgrader autograde: {students} submissions, {workers} shares")
            nbgrader = _nbgrader_autograde(course, folder / "shares", planted, workers)
            status.update(f"otter run: {students} submissions, {workers} at a time")
            peer = _otter_run(otter, autograder, otter_submissions, folder / "otter", workers)
            status.update(f"grade batch: {students} submissions")
            deepgrade = _grade_batch(course / "submitted", folder / "out", workers, isolation)
    outcomes = {"nbgrader autograde": nbgrader, "otter run": peer, "grade batch": deepgrade}
    for name, outcome in outcomes.items():
        if (failure := outcome.timed.failure()) is not None:
            console.print(f"[red]{name} failed[/red] ({failure})")
            return
    console.print(_table(students, workers, isolation, outcomes, planted))


def _table(
    students: int,
    workers: int,
    isolation: str,
    outcomes: dict[str, _Outcome],
    planted: dict[str, str],
) -> Table:
    table = goals_table(f"Throughput: {students} submissions of 4 Lab 2 activations")
    labels = {
        "nbgrader autograde": f"nbgrader autograde ({workers} processes, one per share)",
        "otter run": f"otter run (no Docker, {workers} at a time)",
        "grade batch": f"grade batch (--jobs {workers}, isolation {isolation})",
    }
    for name, label in labels.items():
        table.add_row(label, _rate(outcomes[name].timed, students), "-", "-", "-")
    deepgrade = outcomes["grade batch"].timed.seconds
    for peer in ("nbgrader autograde", "otter run"):
        seconds = outcomes[peer].timed.seconds
        table.add_row(
            f"grade batch's throughput against {peer}",
            f"{seconds:.1f} s / {deepgrade:.1f} s",
            f">= {GOAL_RATIO:g} x",
            f"{seconds / deepgrade:.1f} x",
            verdict(seconds / deepgrade >= GOAL_RATIO),
        )
    expected = {student for student, bug in planted.items() if bug == ""}
    for name, outcome in outcomes.items():
        if wrong := sorted(outcome.full_marks ^ expected):
            listed = ", ".join(f"{s} ({planted[s] or 'correct'})" for s in wrong)
            table.add_row(f"[yellow]warning: {name} disagrees on[/]", listed, "", "", "")
    agree = all(outcome.full_marks == expected for outcome in outcomes.values())
    table.add_row(
        "all three give full marks to exactly the students without a bug",
        f"{len(expected)} of {students} full marks; {students - len(expected)} with a bug or "
        "the stub",
        "agree",
        "-",
        verdict(agree),
    )
    hidden_only = {student for student, bug in planted.items() if bug in LAB2_HIDDEN_BUGS}
    if hidden_only:
        passed = hidden_only & (outcomes["otter run"].public_passed or set())
        table.add_row(
            "students with a bug only hidden tests catch pass Otter's public tests",
            f"{len(passed)} of {len(hidden_only)} students",
            "all",
            "-",
            verdict(passed == hidden_only),
        )
    return table


def _rate(timed: Timed, students: int) -> str:
    return (
        f"{timed.seconds:.1f} s, {timed.seconds / students:.2f} s/submission, "
        f"{60 * students / timed.seconds:.0f} submissions/min; CPU user {timed.user:.1f} s"
    )


def _release(course: Path) -> Path:
    """Write the equivalent notebook into a new nbgrader course and release it with nbgrader."""
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG, encoding="utf-8")
    source = course / "source" / LAB2_FOLDER / f"{LAB2_FOLDER}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(_nbgrader_notebook(), source)  # type: ignore[no-untyped-call]
    command = [*_nbgrader(), "generate_assignment", LAB2_FOLDER, "--force"]
    timed = timed_run(command, cwd=course, env=activated_env())
    if (failure := timed.failure()) is not None:
        raise SystemExit(f"nbgrader generate_assignment failed ({failure})")
    return course / "release" / LAB2_FOLDER / f"{LAB2_FOLDER}.ipynb"


def _solution_cells() -> tuple[Any, Any, dict[str, Any]]:
    """The solution notebook, its import cell and its answer cell of each exercise."""
    solution = nbformat.read(LAB2_SOLUTION_NB, as_version=4)  # type: ignore[no-untyped-call]
    code = [cell for cell in solution.cells if cell.cell_type == "code"]
    answers = {
        exercise: next(cell for cell in code if f"class {spec.cls}(" in cell.source)
        for exercise, spec in EXERCISES.items()
    }
    return solution, code[0], answers


def _nbgrader_notebook() -> Any:
    solution, imports, answers = _solution_cells()
    cells = [_markdown("# Lab 2: activation functions (benchmark excerpt)"), imports]
    for exercise, spec in EXERCISES.items():
        test = (
            f"{spec.visible.source()}### BEGIN HIDDEN TESTS\n"
            f"{spec.hidden.source()}### END HIDDEN TESTS\n"
        )
        meta = {
            "grade": True,
            "grade_id": f"test_{exercise.replace('.', '_')}",
            "locked": True,
            "points": POINTS,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
        cells += [answers[exercise], _code(test, metadata={"nbgrader": meta})]
    return _notebook(cells, solution.metadata)


def _otter_notebook() -> Any:
    """The same cells in Otter Assign's format; Otter's solution markers replace nbgrader's."""
    solution, imports, answers = _solution_cells()
    cells = [
        _raw(OTTER_CONFIG),
        _markdown("# Lab 2: activation functions (benchmark excerpt)"),
        imports,
    ]
    for exercise, spec in EXERCISES.items():
        answer = answers[exercise].source.replace("### BEGIN SOLUTION", "# BEGIN SOLUTION")
        answer = answer.replace("### END SOLUTION", "# END SOLUTION")
        cells += [
            _raw(f"# BEGIN QUESTION\nname: {exercise.split('.')[1]}\npoints: {POINTS:g}"),
            _markdown(f"Implement `{spec.cls}`."),
            _raw("# BEGIN SOLUTION"),
            _code(answer),
            _raw("# END SOLUTION"),
            _raw("# BEGIN TESTS"),
            _code(spec.visible.source()),
            _code(f"# HIDDEN\n{spec.hidden.source()}"),
            _raw("# END TESTS"),
            _raw("# END QUESTION"),
        ]
    return _notebook(cells, solution.metadata)


def _code(source: str, **kwargs: Any) -> Any:
    return nbformat.v4.new_code_cell(source, **kwargs)  # type: ignore[no-untyped-call]


def _markdown(source: str) -> Any:
    return nbformat.v4.new_markdown_cell(source)  # type: ignore[no-untyped-call]


def _raw(source: str) -> Any:
    return nbformat.v4.new_raw_cell(source)  # type: ignore[no-untyped-call]


def _notebook(cells: list[Any], metadata: Any) -> Any:
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)  # type: ignore[no-untyped-call]


def _submit(released: Path, submitted: Path, students: int) -> dict[str, str]:
    """Hand in one notebook per student; returns each student's planted bug ('' for none)."""
    variants = [*LAB2_BUGS, *LAB2_HIDDEN_BUGS, NOT_IMPLEMENTED]
    planted: dict[str, str] = {}
    for number in range(students):
        student = f"student{number + 1:03d}"
        buggy = number % BUGGY_EVERY == BUGGY_EVERY - 1
        planted[student] = variants[(number // BUGGY_EVERY) % len(variants)] if buggy else ""
    _hand_in(released, submitted, planted, LAB2_FOLDER)
    return planted


def _hand_in(released: Path, folder: Path, planted: dict[str, str], inner: str) -> None:
    """Write ``folder/<student>/<inner>/<released's name>``: the answers typed into ``released``.

    The solution's answer cells replace the released cells that define the same class; the
    student's planted bug, if any, is then made (the stub is handed in unchanged).
    """
    _, _, answers = _solution_cells()
    bugs = LAB2_BUGS | LAB2_HIDDEN_BUGS
    for student, bug in planted.items():
        notebook = nbformat.read(released, as_version=4)  # type: ignore[no-untyped-call]
        if bug != NOT_IMPLEMENTED:
            for cell in notebook.cells:
                for exercise, spec in EXERCISES.items():
                    if cell.cell_type == "code" and f"class {spec.cls}(" in cell.source:
                        cell.source = answers[exercise].source
            if bug:
                plant_bug(notebook, bugs[bug])
        target = folder / student / inner / released.name
        target.parent.mkdir(parents=True)
        nbformat.write(notebook, target)  # type: ignore[no-untyped-call]


def _nbgrader() -> list[str]:
    return [sys.executable, "-m", "nbgrader"]


def _nbgrader_autograde(
    course: Path, shares: Path, planted: dict[str, str], workers: int
) -> _Outcome:
    """One ``nbgrader autograde`` per share of the class, each in its own copy of the course.

    Consecutive students share a course, so that each share gets its part of the planted bugs.
    """
    from nbgrader.api import Gradebook, MissingEntry

    students = list(planted)
    size = -(-len(students) // workers)
    shared = {
        shares / f"course{start // size}": students[start : start + size]
        for start in range(0, len(students), size)
    }
    for folder, share in shared.items():
        shutil.copytree(course, folder, ignore=shutil.ignore_patterns("submitted"))
        for student in share:
            shutil.copytree(course / "submitted" / student, folder / "submitted" / student)
    command = [*_nbgrader(), "autograde", LAB2_FOLDER, "--force"]
    runs = [
        functools.partial(timed_run, command, cwd=folder, env=activated_env()) for folder in shared
    ]
    timed = timed_pool(runs, workers)
    full_marks: set[str] = set()
    for folder, share in shared.items():
        with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
            for student in share:
                try:
                    submission = gradebook.find_submission(LAB2_FOLDER, student)
                except MissingEntry:
                    continue
                if submission.score == submission.max_score:
                    full_marks.add(student)
    return _Outcome(timed, full_marks)


def _otter(env: Path, console: Console) -> Path:
    """The ``otter`` command of ``env``, a virtual environment made for it when missing.

    A separate environment, so that Otter's dependencies never change what deepgrade runs
    with (PyTorch imports dill, one of them, whenever it is installed). PyTorch is the
    project's version.
    """
    otter = env / "bin" / "otter"
    if otter.is_file():
        return otter
    python = env / "bin" / "python"
    steps = [
        [sys.executable, "-m", "venv", str(env)],
        [str(python), "-m", "pip", "install", "--quiet", f"torch=={version('torch')}"],
        [str(python), "-m", "pip", "install", "--quiet", OTTER_REQUIREMENT],
    ]
    with console.status(f"installing {OTTER_REQUIREMENT} into its own environment, {env}"):
        for step in steps:
            if (failure := timed_run(step).failure()) is not None:
                raise SystemExit(
                    f"could not install Otter-Grader ({failure}); make its environment by "
                    f"hand: python -m venv {env}; {python} -m pip install "
                    f"torch=={version('torch')} '{OTTER_REQUIREMENT}'"
                )
    return otter


def _otter_assign(otter: Path, folder: Path) -> tuple[Path, Path]:
    """Build the Otter assignment: returns its autograder zip and the student notebook."""
    master = folder / "master" / f"{LAB2_FOLDER}.ipynb"
    master.parent.mkdir(parents=True)
    nbformat.write(_otter_notebook(), master)  # type: ignore[no-untyped-call]
    dist = folder / "dist"
    command = [str(otter), "assign", str(master), str(dist)]
    timed = timed_run(command, cwd=folder, env=activated_env(otter.parent))
    if (failure := timed.failure()) is not None:
        raise SystemExit(f"otter assign failed ({failure})")
    (autograder,) = (dist / "autograder").glob("*.zip")
    return autograder, dist / "student" / master.name


def _otter_submit(released: Path, folder: Path, planted: dict[str, str]) -> dict[str, Path]:
    """Hand in the same answers in Otter's student notebook, under its own name.

    Its init cell opens the notebook by that name (``otter.Notebook("lab2_activations.ipynb")``)
    when ``otter run`` executes it.
    """
    _hand_in(released, folder, planted, inner="")
    return {student: folder / student / released.name for student in planted}


def _otter_run(
    otter: Path, autograder: Path, submissions: dict[str, Path], folder: Path, workers: int
) -> _Outcome:
    runs, env = [], activated_env(otter.parent)
    for student, submission in submissions.items():
        out = folder / "results" / student
        out.mkdir(parents=True)
        command = [str(otter), "run", "-a", str(autograder), "-o", str(out), str(submission)]
        runs.append(functools.partial(timed_run, command, cwd=folder, env=env))
    timed = timed_pool(runs, workers)
    full_marks, public_passed = set(), set()
    for student in submissions:
        results = folder / "results" / student / "results.json"
        if not results.is_file():
            continue
        tests = json.loads(results.read_text(encoding="utf-8"))["tests"]
        # Gradescope's format: a "Public Tests" entry without points (its status says whether
        # every public test passed), then each question with its score, hidden tests included.
        scored = [test for test in tests if test.get("max_score") is not None]
        if scored and all(test["score"] == test["max_score"] for test in scored):
            full_marks.add(student)
        if any(t["name"] == "Public Tests" and t["status"] == "passed" for t in tests):
            public_passed.add(student)
    return _Outcome(timed, full_marks, public_passed)


def _grade_batch(submitted: Path, out: Path, workers: int, isolation: str) -> _Outcome:
    command = [*grade_command(), "batch", str(submitted), "--lab", "lab2", "--out", str(out)]
    command += [arg for exercise in EXERCISES for arg in ("--exercise", exercise)]
    command += ["--device", "cpu", "--jobs", str(workers)]
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
