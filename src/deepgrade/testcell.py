"""``score("lab2.sigmoid")``: what an nbgrader autograder test cell of a released lab runs.

It grades one exercise on the code the notebook's kernel has run (as ``check`` does), prints
deepgrade's explanation and returns the points earned as the cell's value, which is how
nbgrader reads partial credit. An exercise that earns nothing raises ``AssertionError``
instead, so that ``nbgrader validate`` names it among the failures and nbgrader gives zero.

Hidden checks run where the full autograder folder is found: under ``nbgrader autograde``,
point ``DEEPGRADE_AUTOGRADER_DIR`` at it; otherwise the public checks shipped with the
release are used.
"""

from __future__ import annotations

import contextlib
import os
import sys

from deepgrade.errors import UsageError
from deepgrade.notebook import history_submission
from deepgrade.sandbox import WORKER_ENV


def score(exercise_id: str) -> float:
    """Grade one exercise on the kernel's history and return its points (see the module)."""
    # IPython leaves this frame out of tracebacks: the student's failure is what matters.
    __tracebackhide__ = True
    if os.environ.get(WORKER_ENV):
        # The submission is itself being graded: a test cell must not grade again.
        return 0.0
    from rich.console import Console

    from deepgrade.grading import find_lab, grade_cells
    from deepgrade.reports import render_result
    from deepgrade.settings import GraderSettings

    lab_id = exercise_id.split(".", 1)[0]
    submission = history_submission(lab_id)
    if submission is None:
        raise UsageError("score() grades what a notebook kernel has run: call it in a notebook")
    settings = GraderSettings()
    # nbgrader gives zero to a test cell with anything on stderr, so a warning raised while
    # grading (by PyTorch, say) goes to stdout with the explanation instead.
    sys.stderr.flush()
    with contextlib.redirect_stderr(sys.stdout):
        lab = find_lab(lab_id, submission, settings)
        result = grade_cells(submission, lab, [exercise_id], "auto", settings)
        console = Console(file=sys.stdout, force_jupyter=False, width=100, no_color=True)
        render_result(result, console, verbose=False)
    exercise = result.exercises[0]
    if exercise.score <= 0:
        raise AssertionError(
            f"{exercise.id} earned 0 of {exercise.max_score:g} points ({exercise.status.value}): "
            f"{exercise.message}"
        )
    return exercise.score
