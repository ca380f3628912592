"""``check("lab2.sigmoid")`` for a notebook's check cells.

Inside Jupyter the code graded is what the kernel has actually run (IPython's input history),
so students need not save first; from a plain ``python lab2_activations.py`` run, it is that
file. Either way the code runs in a separate worker process, like ``grade check``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepgrade.engine.loader import (
    Cell,
    Submission,
    load_submission,
    read_notebook,
    ungraded_sources,
)
from deepgrade.engine.validation import GradingRequest, validate_request
from deepgrade.errors import DeepgradeError, SpecError, SubmissionError, UsageError
from deepgrade.model import handout
from deepgrade.model.spec import LabLocation, LabSpec, lab_digest
from deepgrade.sandbox.templates import WORKER_ENV, prestart
from deepgrade.settings import GraderSettings

if TYPE_CHECKING:
    from rich.console import Console

    from deepgrade.model.results import ExerciseResult


# Whether this process has said how workers are isolated: it is the same for every check cell
# of a kernel, so it is said under the first one only.
_isolation_told = False


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
    """The code this kernel has run so far, as a submission (``None`` outside IPython).

    Where the kernel knows its notebook file, the cells that grading that file leaves out
    (tagged ``skip-grading``: plots, demos) are left out here too, as long as the kernel ran
    them as the file has them: grading the kernel's work then runs what grading the handed-in
    file will, and not the plots again in each check cell's worker.
    """
    history = _history()
    if history is None:
        return None
    notebook = _notebook_file()
    ungraded = ungraded_sources(notebook) if notebook is not None else set()
    # Jupyter shows each cell it ran as In [n], n its place in the history.
    cells = [
        Cell(index, source, f"In [{index}]")
        for index, source in enumerate(history)
        if _runnable(source) and source.strip() not in ungraded
    ]
    # The latest checks cell run: a newer release's, where the student pasted one in.
    ran = (handout.find_call(source) for source in reversed(history))
    checks = next((call for call in ran if call is not None), None)
    if checks is None:
        checks = _notebook_checks_cell(notebook)
    path = Path.cwd() / f"{lab_id}.ipynb"
    return Submission(path, cells, lab_id, is_notebook=True, checks_cell=checks)


def _notebook_file() -> Any:
    """This kernel's notebook file as JSON data, where the kernel is told which it is.

    Jupyter's server tells the kernel its notebook file (``JPY_SESSION_NAME``), as VS Code does
    (``__vsc_ipynb_file__``).
    """
    from IPython import get_ipython

    shell: Any = get_ipython()
    user_ns = shell.user_ns if shell is not None else {}
    named = [os.environ.get("JPY_SESSION_NAME"), user_ns.get("__vsc_ipynb_file__")]
    for name in (str(n) for n in named if n):
        for path in (Path(name), Path.cwd() / name, Path.cwd() / Path(name).name):
            if path.suffix == ".ipynb" and path.is_file():
                with contextlib.suppress(SubmissionError):
                    return read_notebook(path)
    return None


def _notebook_checks_cell(notebook: Any) -> str | None:
    """The checks cell of this kernel's notebook (its file's data, or ``None``), where the
    student has not run it.

    Colab keeps the notebook in Drive, but its page hands it to the kernel on request.
    Elsewhere the student runs the cell (the check cells say so).
    """
    found = handout.checks_cell_of(notebook if notebook is not None else _colab_notebook())
    return found[1] if found is not None else None


# How long a check cell waits for Colab's page to send the notebook.
_COLAB_WAIT = 5.0


def _colab_notebook() -> Any:
    """The notebook as Colab's page holds it (JSON data), or ``None`` outside Colab."""
    try:
        from google.colab import _message  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        reply = _message.blocking_request("get_ipynb", timeout_sec=_COLAB_WAIT)
    except Exception:  # the page did not answer: the student runs the checks cell instead
        return None
    return reply.get("ipynb") if isinstance(reply, dict) else None


# What grade_exercise imports: the grading session (PyTorch, the checks) and the report.
_GRADER_MODULES = ("deepgrade.engine.grading", "deepgrade.reports.terminal")


def use_checks(lab: str, version: str, data: str) -> None:
    """What a released notebook's checks cell runs: say whether its checks are usable.

    The check cells read the checks from the cell's text (see ``model.handout``); running it
    lets them find it, and tells the student at once when the cell was damaged.

    It also readies the check cells: it launches the kernel's worker template, which imports
    PyTorch while the student works towards the first check cell (the kernel keeps it for
    every check cell, and it ends with the kernel), and imports the grader's modules. Those
    import PyTorch, which the notebook's next cell imports anyway: the first check cell then
    pays neither.
    """
    if os.environ.get(WORKER_ENV):
        return
    from rich.console import Console

    console = Console(highlight=False)
    try:
        checks = handout.unpack(lab, version, data)
    except SpecError as exc:
        console.print(f"Error: {exc}: copy the first cell of the released notebook again.")
        return
    console.print(f"The checks of {checks.lab} are ready (released {checks.released}).")
    prestart(GraderSettings())
    # Only early: where an import fails, a check cell imports it again and says what failed.
    with contextlib.suppress(Exception):
        for module in _GRADER_MODULES:
            importlib.import_module(module)


def lab_of(request: GradingRequest) -> LabSpec:
    """The lab of ``request``, loaded once per kernel for each version of its files.

    Every check cell of a notebook asks for the same lab: reading and validating its checks
    (and, for a release, its recorded references' file) is done once, and again only when a
    file it is loaded from changed (a newer release's checks cell, an edited course folder).
    """
    location = request.lab
    course = location.course_folder
    versions = (lab_digest(location.folder), lab_digest(course) if course else None)
    return _loaded_lab(location, request.include_hidden, versions)


@functools.lru_cache(maxsize=8)
def _loaded_lab(
    location: LabLocation, include_hidden: bool, versions: tuple[str, str | None]
) -> LabSpec:
    # ``versions`` is only a key: the digests of the lab's files and its course's references.
    return location.load(include_hidden=include_hidden)


def grade_exercise(
    exercise_id: str, submission: Submission, device: str, console: Console
) -> ExerciseResult:
    """Grade one exercise of ``submission`` in a worker, show it on ``console``, return it.

    What a notebook's check cells and nbgrader's test cells share.
    """
    from deepgrade.engine.grading import grade_cells
    from deepgrade.reports.terminal import render_result

    settings = GraderSettings()
    try:
        request = validate_request(
            exercise_id.split(".", 1)[0], [exercise_id], settings=settings, submission=submission
        )
    except UsageError as exc:
        if submission.checks_cell is not None or not str(exc).startswith("unknown lab"):
            raise
        raise UsageError(
            f"{exc}. A released notebook carries its checks in its first code cell: "
            "run that cell, then this one again."
        ) from None
    result = grade_cells(submission, lab_of(request), request.exercises, device, settings)
    global _isolation_told
    render_result(result, console, verbose=False, show_isolation=not _isolation_told)
    _isolation_told = _isolation_told or result.isolation is not None
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
