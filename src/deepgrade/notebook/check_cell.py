"""``check("lab2.sigmoid")`` for a notebook's check cells.

Inside Jupyter the code graded is what the kernel has actually run (IPython's input history),
so students need not save first; from a plain ``python lab2_activations.py`` run, it is that
file. Either way the code runs in a separate worker process, like ``grade check``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepgrade.engine.loader import Cell, Submission, load_submission
from deepgrade.engine.validation import validate_request
from deepgrade.errors import DeepgradeError
from deepgrade.sandbox.templates import WORKER_ENV

if TYPE_CHECKING:
    from rich.console import Console

    from deepgrade.model.results import ExerciseResult


def _history() -> list[str] | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell: Any = get_ipython()
    if shell is None:
        return None
    return [str(source) for source in shell.user_ns.get("In", [])]


def _runnable(source: str) -> bool:
    """History cells worth re-running: not the check cells themselves, not shell magics."""
    stripped = source.strip()
    return bool(stripped) and "deepgrade" not in source and not stripped.startswith(("%", "!"))


def history_submission(lab_id: str) -> Submission | None:
    """The code this kernel has run so far, as a submission (``None`` outside IPython)."""
    history = _history()
    if history is None:
        return None
    cells = [Cell(index, source) for index, source in enumerate(history) if _runnable(source)]
    return Submission(Path.cwd() / f"{lab_id}.ipynb", cells, lab_id, is_notebook=True)


def grade_exercise(
    exercise_id: str, submission: Submission, device: str, console: Console
) -> ExerciseResult:
    """Grade one exercise of ``submission`` in a worker, show it on ``console``, return it.

    What a notebook's check cells and nbgrader's test cells share.
    """
    from deepgrade.engine.grading import grade_cells
    from deepgrade.reports.terminal import render_result
    from deepgrade.settings import GraderSettings

    settings = GraderSettings()
    request = validate_request(
        exercise_id.split(".", 1)[0], [exercise_id], settings=settings, submission=submission
    )
    result = grade_cells(submission, request.load_lab(), request.exercises, device, settings)
    render_result(result, console, verbose=False)
    return result.exercises[0]


def error_line(exc: Exception) -> str:
    """What a check cell prints instead of a traceback when deepgrade itself fails.

    A traceback into deepgrade tells a student nothing they can act on, and an exception would
    stop "Run All" at this cell.
    """
    if isinstance(exc, DeepgradeError):
        return f"Error: {exc}"
    return f"Error: deepgrade failed ({type(exc).__name__}: {exc}); please tell the course staff"


def check(exercise_id: str, *, device: str = "auto") -> float:
    """Run the checks available here for one exercise, show the result and return the points.

    Never raises: when deepgrade itself fails (an unknown exercise, a worker that would not
    start) it prints a one-line :func:`error_line` and returns 0. Does nothing when the
    submission is itself being graded (the call is then in a worker).
    """
    if os.environ.get(WORKER_ENV):
        return 0.0
    from rich.console import Console

    try:
        submission = history_submission(exercise_id.split(".", 1)[0])
        if submission is None:
            main = sys.modules.get("__main__")
            submission = load_submission(Path(str(getattr(main, "__file__", ""))))
        return grade_exercise(exercise_id, submission, device, Console()).score
    except Exception as exc:
        sys.stdout.write(error_line(exc) + "\n")
        return 0.0
