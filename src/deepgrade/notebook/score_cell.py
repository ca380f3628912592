"""``score("lab2.sigmoid")``: what an nbgrader autograder test cell of a released lab runs.

It grades one exercise on the code the notebook's kernel has run (as ``check`` does), prints
deepgrade's explanation and returns the points earned as the cell's value, which is how
nbgrader reads partial credit. It never raises in a student's own kernel, so that "Run All"
reaches the end of the notebook; under nbgrader (``nbgrader validate`` and ``autograde`` set
``NBGRADER_EXECUTION``) an exercise that earns nothing raises ``AssertionError`` instead, so
that ``nbgrader validate`` names it among the failures and nbgrader gives zero.

Hidden checks run where the full autograder folder is found: under ``nbgrader autograde``,
point ``DEEPGRADE_AUTOGRADER_DIR`` at it; otherwise the public checks shipped with the
release are used.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING

from deepgrade.errors import UsageError
from deepgrade.model.results import format_points
from deepgrade.notebook.check_cell import error_line, grade_exercise, history_submission
from deepgrade.sandbox.templates import WORKER_ENV

if TYPE_CHECKING:
    from deepgrade.model.results import ExerciseResult

# Set by nbgrader in the kernels of ``nbgrader validate`` and ``nbgrader autograde``.
NBGRADER_ENV = "NBGRADER_EXECUTION"


def score(exercise_id: str) -> float:
    """Grade one exercise on the kernel's history and return its points (see the module)."""
    # IPython leaves this frame out of tracebacks: the student's failure is what matters.
    __tracebackhide__ = True
    if os.environ.get(WORKER_ENV):
        # The submission is itself being graded: a test cell must not grade again.
        return 0.0
    under_nbgrader = bool(os.environ.get(NBGRADER_ENV))
    try:
        exercise = _graded(exercise_id)
    except Exception as exc:
        if under_nbgrader:
            raise AssertionError(f"{exercise_id} earned 0 points: {error_line(exc)}") from None
        sys.stdout.write(error_line(exc) + "\n")
        return 0.0
    if exercise.score <= 0 and under_nbgrader:
        raise AssertionError(
            f"{exercise.id} earned 0 of {format_points(exercise.max_score)} points "
            f"({exercise.status.value}): {exercise.message}"
        )
    return exercise.score


def _graded(exercise_id: str) -> ExerciseResult:
    from rich.console import Console

    submission = history_submission(exercise_id.split(".", 1)[0])
    if submission is None:
        raise UsageError("score() grades what a notebook kernel has run: call it in a notebook")
    # nbgrader gives zero to a test cell with anything on stderr, so a warning raised while
    # grading (by PyTorch, say) goes to stdout with the explanation instead.
    sys.stderr.flush()
    with contextlib.redirect_stderr(sys.stdout):
        console = Console(file=sys.stdout, force_jupyter=False, width=100, no_color=True)
        return grade_exercise(exercise_id, submission, "auto", console)
