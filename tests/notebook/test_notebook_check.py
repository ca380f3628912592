"""``check()`` in a notebook grades what the kernel ran, in a worker, prints the result and
returns the points; ``check()`` and ``score()`` never raise in a student's kernel."""

from __future__ import annotations

from typing import Any

import pytest

from deepgrade.engine import grading
from deepgrade.engine.loader import load_submission
from deepgrade.errors import GraderError
from deepgrade.model.results import ExerciseResult, Status, zero_result
from deepgrade.notebook import check_cell as notebook
from deepgrade.notebook import score_cell
from tests.helpers import LAB2_SOLUTION

pytestmark = pytest.mark.lab2


def test_check_grades_the_kernel_history(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = load_submission(LAB2_SOLUTION).sources
    broken = [c.replace("torch.where(x > 0, grad_output, 0.0)", "grad_output") for c in cells]
    history = [
        "",
        *broken,
        "%matplotlib inline",
        'from deepgrade.notebook import check\ncheck("lab2.relu")',
    ]
    monkeypatch.setattr(notebook, "_history", lambda: history)
    earned = notebook.check("lab2.relu", device="cpu")
    assert 0 < earned < 2.0
    out = capsys.readouterr().out
    assert "lab2.relu" in out
    assert "failed" in out
    assert "backward at the kink" in out


def test_check_does_nothing_inside_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPGRADE_IN_WORKER", "1")
    monkeypatch.setattr(notebook, "_history", lambda: pytest.fail("must not grade"))
    assert notebook.check("lab2.relu") == 0.0


def _kernel(monkeypatch: pytest.MonkeyPatch, *, nbgrader: bool = False) -> None:
    """A kernel that ran the solution; under nbgrader's validate or autograde, or not."""
    history = ["", *load_submission(LAB2_SOLUTION).sources]
    monkeypatch.setattr(notebook, "_history", lambda: history)
    if nbgrader:
        monkeypatch.setenv(score_cell.NBGRADER_ENV, "autograde")
    else:
        monkeypatch.delenv(score_cell.NBGRADER_ENV, raising=False)


def _crash(exc: Exception) -> Any:
    def grade_cells(*args: object, **kwargs: object) -> Any:
        raise exc

    return grade_cells


def _one_line(text: str) -> str:
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text.strip()


@pytest.mark.parametrize(
    ("exercise_id", "failure", "message"),
    [
        ("lab99.sigmoid", None, "Error: unknown lab 'lab99' (known labs: lab1,"),
        ("lab2.nope", None, "Error: lab lab2 has no exercise 'lab2.nope'"),
        (
            "lab2.relu",
            GraderError("the worker process could not start: no fork"),
            "Error: the worker process could not start: no fork",
        ),
        (
            "lab2.relu",
            KeyError("state"),
            "Error: deepgrade failed (KeyError: 'state'); please tell the course staff",
        ),
    ],
)
@pytest.mark.parametrize("cell", ["check", "score"])
def test_a_failing_deepgrade_prints_one_line_and_scores_zero(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cell: str,
    exercise_id: str,
    failure: Exception | None,
    message: str,
) -> None:
    """So that "Run All" reaches the end of the notebook."""
    _kernel(monkeypatch)
    if failure is not None:
        monkeypatch.setattr(grading, "grade_cells", _crash(failure))
    call = notebook.check if cell == "check" else score_cell.score
    assert call(exercise_id) == 0.0
    assert _one_line(capsys.readouterr().out).startswith(message)


def test_score_outside_a_notebook_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(score_cell.NBGRADER_ENV, raising=False)
    monkeypatch.setattr(notebook, "_history", lambda: None)
    assert score_cell.score("lab2.relu") == 0.0
    assert _one_line(capsys.readouterr().out).startswith("Error: score() grades what a notebook")


def _graded(result: ExerciseResult) -> Any:
    def grade_exercise(*args: object, **kwargs: object) -> ExerciseResult:
        return result

    return grade_exercise


MISSING = zero_result("lab2.relu", 2.0, Status.MISSING, "relu is not defined in the submission")


def test_score_returns_zero_in_a_students_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    _kernel(monkeypatch)
    monkeypatch.setattr(score_cell, "grade_exercise", _graded(MISSING))
    assert score_cell.score("lab2.relu") == 0.0


def test_under_nbgrader_a_zero_still_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """nbgrader validate and autograde must see the failure."""
    _kernel(monkeypatch, nbgrader=True)
    monkeypatch.setattr(score_cell, "grade_exercise", _graded(MISSING))
    with pytest.raises(AssertionError, match=r"lab2.relu earned 0 of 2 points \(missing\)"):
        score_cell.score("lab2.relu")


def test_under_nbgrader_a_failing_deepgrade_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    _kernel(monkeypatch, nbgrader=True)
    with pytest.raises(AssertionError, match=r"lab99.relu earned 0 points: Error: unknown lab"):
        score_cell.score("lab99.relu")


def test_check_cells_point_at_the_kernels_cells_and_say_isolation_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = load_submission(LAB2_SOLUTION).sources
    broken = [
        c.replace("return torch.where(x < 0, 0.0, x)", "return torch.clamp(x, mn=0)") for c in cells
    ]
    assert broken != cells
    history = ["", *broken, 'check("lab2.relu")']
    monkeypatch.setattr(notebook, "_history", lambda: history)
    monkeypatch.setattr(notebook, "_isolation_told", False)
    notebook.check("lab2.relu", device="cpu")
    first = capsys.readouterr().out
    # The frame is the kernel's cell as Jupyter shows it, with the line the student wrote.
    n = next(i for i, c in enumerate(history) if "mn=0" in c)
    assert f"In [{n}], line" in first and "torch.clamp(x, mn=0)" in first
    assert "drivers.py" not in first and "worker" not in first
    notebook.check("lab2.relu", device="cpu")
    second = capsys.readouterr().out
    assert first.count("isolation:") == 1
    assert "isolation:" not in second
