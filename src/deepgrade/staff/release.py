"""Releasing a lab to students through nbgrader's own ``generate_assignment``.

The nbgrader source notebook is the lab's solution notebook, in which every ``check(...)``
cell becomes an autograder test cell worth the exercise's points; nbgrader then strips the
solutions, locks the test cells and records them in the course's gradebook. The lab's public
checks travel inside the released notebook, in its checks cell (see ``model.handout``), so that
students can grade themselves wherever the notebook goes.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from deepgrade.errors import GraderError, SpecError, UsageError
from deepgrade.model import handout
from deepgrade.model.handout import Handout
from deepgrade.model.spec import LabSpec, find_lab
from deepgrade.settings import CHECKOUT_DIR
from deepgrade.staff.nbgrader import course_config

BUNDLED_ROOT = CHECKOUT_DIR
CHECKS_FOLDER = "autograder"
TEST_CELL_SOURCE = 'from deepgrade.notebook import score\n\nscore("{exercise}")'
# What nbgrader puts where a solution was; deepgrade grades any NotImplementedError as
# not implemented, so the message only needs to tell the student what to do.
CODE_STUB = '# YOUR CODE HERE\nraise NotImplementedError("replace this line with your code")'

_LOG_LINES = 40
_CHECK_IMPORT = "from deepgrade.notebook import check"
_CHECK_CALL = re.compile(r"""^check\(\s*["']([^"']+)["']\s*\)$""")


class ReleaseReport(BaseModel):
    """What a release wrote: the student notebook and every other released file."""

    lab: str
    folder: str
    notebook: Path
    files: list[Path]


def grade_id(exercise_id: str) -> str:
    """nbgrader's grade id of an exercise or manual part: ``lab2.sigmoid`` is ``lab2_sigmoid``."""
    return exercise_id.replace(".", "_")


def release_lab(
    lab: str,
    *,
    to: Path | None = None,
    course_dir: Path | None = None,
    root: Path = BUNDLED_ROOT,
    overwrite: bool = False,
    released: date | None = None,
) -> ReleaseReport:
    """Release one lab (``lab2`` or ``lab2_activations``) with nbgrader.

    With ``course_dir``, the source goes to the course's ``source/<folder>/`` and nbgrader
    generates ``release/<folder>/`` and registers the assignment in the course's gradebook.
    With ``to``, a throwaway nbgrader course does the same and the release is copied to
    ``to/<folder>/`` (which must not exist yet, unless ``overwrite``). The checks cell says
    the lab was ``released`` on that day (today by default).
    """
    if (to is None) == (course_dir is None):
        raise UsageError("give exactly one destination: a folder (--to) or a course (--course)")
    spec = _find_lab(lab, root)
    folder = spec.folder.name
    if course_dir is not None:
        return _release_into_course(spec, root, course_dir.resolve(), released)
    assert to is not None
    target = to.resolve() / folder
    if target.exists() and not overwrite:
        raise UsageError(f"{target} already exists (pass --force to replace it)")
    with tempfile.TemporaryDirectory(prefix="deepgrade-release-") as scratch:
        built = _release_into_course(spec, root, Path(scratch), released)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(built.notebook.parent, target)
    files = sorted(path for path in target.rglob("*") if path.is_file())
    return ReleaseReport(
        lab=spec.id, folder=folder, notebook=target / f"{folder}.ipynb", files=files
    )


def _find_lab(lab: str, root: Path) -> LabSpec:
    # The points are public; hidden checks must not even be read for a release.
    return find_lab(lab, course=[root / CHECKS_FOLDER], include_hidden=False)


def source_notebook(spec: LabSpec, root: Path, checks: Handout | None = None) -> Any:
    """The nbgrader source notebook: the solution notebook with test cells for its checks,
    and the public ``checks`` in a cell before its first code cell."""
    import nbformat

    folder = spec.folder.name
    path = root / "solutions" / folder / f"{folder}.ipynb"
    if not path.is_file():
        raise SpecError(f"{folder}: no solution notebook at {path}")
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    cells: list[Any] = []
    tested: set[str] = set()
    for cell in notebook.cells:
        exercises = _checked_exercises(cell, spec)
        if not exercises:
            if "nbgrader" in cell.metadata:
                # nbgrader's schema allows letters, digits, _ and - only: a manual part's id
                # (lab7.figures) becomes a grade id the same way as an exercise's.
                nbgrader = cell.metadata["nbgrader"]
                nbgrader["grade_id"] = grade_id(nbgrader["grade_id"])
            cells.append(cell)
            continue
        for exercise_id in exercises:
            if exercise_id in tested:
                raise SpecError(f"{path}: {exercise_id} is checked in more than one cell")
            tested.add(exercise_id)
            cells.append(_test_cell(spec, exercise_id))
    untested = [e.id for e in spec.exercises if e.id not in tested]
    if untested:
        raise SpecError(f"{path}: no check cell for {', '.join(untested)}")
    if checks is not None:
        first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
        cells.insert(first_code, checks_cell(checks))
    notebook.cells = cells
    return notebook


def checks_cell(checks: Handout) -> Any:
    """The checks cell of a release: ``checks`` as the text of a locked, folded code cell."""
    import nbformat

    cell = nbformat.v4.new_code_cell(handout.cell_source(checks))  # type: ignore[no-untyped-call]
    cell.id = "deepgrade-checks"
    cell.metadata = {
        # Read-only in nbgrader (autograde restores it), folded in Jupyter and in Colab.
        "nbgrader": {
            "grade": False,
            "grade_id": "deepgrade_checks",
            "locked": True,
            "schema_version": 3,
            "solution": False,
            "task": False,
        },
        "jupyter": {"source_hidden": True},
        "cellView": "form",
        "tags": [handout.CHECKS_TAG],
    }
    return cell


def _checked_exercises(cell: Any, spec: LabSpec) -> list[str]:
    """The exercises a check cell checks, in order; empty for any other cell."""
    if cell.cell_type != "code" or _CHECK_IMPORT not in cell.source:
        return []
    exercises = []
    for line in cell.source.splitlines():
        stripped = line.strip()
        if not stripped or stripped == _CHECK_IMPORT:
            continue
        call = _CHECK_CALL.match(stripped)
        if call is None:
            # Turning the cell into test cells would silently drop this line.
            raise SpecError(f"{spec.folder.name}: a check cell holds other code: {stripped!r}")
        try:
            exercises.append(spec.exercise(call.group(1)).id)
        except UsageError as exc:
            raise SpecError(f"{spec.folder.name}: a check cell names {exc}") from None
    return exercises


def _test_cell(spec: LabSpec, exercise_id: str) -> Any:
    import nbformat

    source = TEST_CELL_SOURCE.format(exercise=exercise_id)
    cell = nbformat.v4.new_code_cell(source)  # type: ignore[no-untyped-call]
    cell.id = grade_id(exercise_id)
    cell.metadata = {
        "nbgrader": {
            "grade": True,
            "grade_id": grade_id(exercise_id),
            "locked": True,
            "points": spec.exercise(exercise_id).points,
            "schema_version": 3,
            "solution": False,
            "task": False,
        },
        # `grade check` and a worker's history never run a test cell's call to the grader.
        "tags": ["skip-grading"],
    }
    return cell


def _release_into_course(
    spec: LabSpec, root: Path, course_dir: Path, released: date | None
) -> ReleaseReport:
    import nbformat

    from deepgrade.engine.recording import export_public_checks

    folder = spec.folder.name
    with tempfile.TemporaryDirectory(prefix="deepgrade-checks-") as scratch:
        export_public_checks(spec.folder, Path(scratch) / folder)
        checks = handout.pack(spec.id, Path(scratch) / folder, released)
    notebook = source_notebook(spec, root, checks)
    source = course_dir / "source" / folder
    source.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, source / f"{folder}.ipynb")  # type: ignore[no-untyped-call]
    # Releases before the checks cell shipped the checks as a folder beside the notebook.
    shutil.rmtree(source / CHECKS_FOLDER, ignore_errors=True)
    _generate_assignment(course_dir, folder)
    release = course_dir / "release" / folder
    files = sorted(path for path in release.rglob("*") if path.is_file())
    return ReleaseReport(
        lab=spec.id, folder=folder, notebook=release / f"{folder}.ipynb", files=files
    )


def _generate_assignment(course_dir: Path, assignment: str) -> None:
    """nbgrader's generate_assignment, with the course's own nbgrader_config.py if it has one."""
    from nbgrader.apps import NbGraderAPI

    config = course_config(course_dir)
    config.ClearSolutions.code_stub = {"python": CODE_STUB}
    api = NbGraderAPI(config=config)
    outcome = api.generate_assignment(assignment, force=True, create=True)
    if not outcome["success"]:
        # nbgrader logs the cause; its error is only a traceback of the summary.
        log = str(outcome.get("log") or outcome.get("error") or "").strip().splitlines()
        detail = "\n".join(log[-_LOG_LINES:])
        raise GraderError(f"nbgrader generate_assignment failed for {assignment}:\n{detail}")
