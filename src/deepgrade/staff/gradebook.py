"""deepgrade's scores in an nbgrader course: its gradebook and its autograded notebooks.

formgrader, ``nbgrader generate_feedback`` and ``nbgrader export`` read two things: the
gradebook (a grade row per graded cell of each submission) and the notebooks under
``autograded/<student>/<assignment>/``. deepgrade fills both as ``nbgrader autograde`` would,
from result records instead of by running the notebooks again. Scores typed by hand
(``manual_score``) are never written here, so a re-run keeps every hand-graded cell.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field

from deepgrade.errors import DeepgradeError, UsageError
from deepgrade.model.records import RecordStatus, SubmissionRecord, write_atomic
from deepgrade.model.results import ExerciseResult, LabResult
from deepgrade.model.spec import LabSpec
from deepgrade.staff.nbgrader import course_config
from deepgrade.staff.release import grade_id

TIMESTAMP_FILE = "timestamp.txt"
_SQLITE = "sqlite:///"


class GradebookReport(BaseModel):
    """What :func:`write_gradebook` wrote, and what it left out and why."""

    course_dir: Path
    assignment: str
    written: list[str] = Field(default_factory=list, description="Students whose scores landed.")
    skipped: dict[str, str] = Field(
        default_factory=dict, description="Students not written (not graded), with the reason."
    )
    notes: list[str] = Field(default_factory=list)


def write_gradebook(
    course_dir: Path, lab: LabSpec, records: Iterable[SubmissionRecord]
) -> GradebookReport:
    """Write the graded records of ``lab`` into the nbgrader course at ``course_dir``.

    The assignment (and its notebook) is the lab's folder name, registered by ``grade release
    LAB --course COURSE_DIR``. Each graded record becomes the student's submission: every
    exercise's score goes to the ``auto_score`` of its test cell, in one transaction per
    submission, and the graded notebook goes to ``autograded/``. Every record is checked
    against the gradebook before anything is written.
    """
    course = _course(course_dir)
    assignment = lab.folder.name
    report = GradebookReport(course_dir=Path(course.root), assignment=assignment)
    with _open_gradebook(course, lab) as gradebook:
        points = _test_cells(gradebook, lab, assignment, course)
        graded: list[tuple[SubmissionRecord, LabResult]] = []
        for record in records:
            if record.status is not RecordStatus.GRADED or record.result is None:
                reason = f": {record.error}" if record.error else ""
                report.skipped[record.student] = f"{record.status.value}{reason}"
                continue
            _check_record(record, record.result, lab, points)
            graded.append((record, record.result))
        for record, result in graded:
            notebook = _autograded_notebook(course, assignment, record, result, report)
            _write_submission(gradebook, course, assignment, record.student, result)
            folder = Path(
                course.format_path(course.autograded_directory, record.student, assignment)
            )
            if notebook is not None:
                write_atomic(folder / f"{assignment}.ipynb", notebook)
            _copy_timestamp(course, assignment, record.student, folder)
            report.written.append(record.student)
    logger.info(
        "gradebook {}: {} submissions written, {} skipped",
        assignment,
        len(report.written),
        len(report.skipped),
    )
    return report


def read_manual_scores(course_dir: Path, assignment: str) -> dict[str, dict[str, float | None]]:
    """Student -> hand-graded cell's grade id -> the score nbgrader counts (None: not graded).

    Hand-graded cells are nbgrader's manually graded answers and tasks; an autograded test
    cell is not one of them, even where staff overrode its score.
    """
    from nbgrader.api import MissingEntry

    course = _course(course_dir)
    with _open_gradebook(course, None) as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise UsageError(
                f"the gradebook of {course.root} has no assignment {assignment!r}"
            ) from None
        manual: set[str] = set()
        for notebook in found.notebooks:
            answers = {cell.name for cell in notebook.solution_cells}
            manual |= {cell.name for cell in notebook.grade_cells if cell.name in answers}
            manual |= {cell.name for cell in notebook.task_cells}
        scores: dict[str, dict[str, float | None]] = {}
        for submission in gradebook.assignment_submissions(assignment):
            by_cell = scores.setdefault(submission.student.id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.name in manual:
                        by_cell[grade.name] = _counted_score(grade)
        return scores


def _counted_score(grade: Any) -> float | None:
    """nbgrader's score of a grade (a hand score wins), or None if nobody scored it yet."""
    score = grade.manual_score if grade.manual_score is not None else grade.auto_score
    if score is None:
        return None
    return float(score) + float(grade.extra_credit or 0.0)


def _course(course_dir: Path) -> Any:
    """nbgrader's view of the course folder, with the course's own configuration if any."""
    from nbgrader.coursedir import CourseDirectory

    root = course_dir.resolve()
    if not root.is_dir():
        raise UsageError(f"no nbgrader course folder at {course_dir}")
    return CourseDirectory(config=course_config(root))


def _release_hint(lab: LabSpec | None, course: Any) -> str:
    name = lab.id if lab is not None else "LAB"
    return f"run `grade release {name} --course {course.root}` first"


@contextmanager
def _open_gradebook(course: Any, lab: LabSpec | None) -> Iterator[Any]:
    from nbgrader.api import Gradebook

    url = str(course.db_url)
    # nbgrader would create an empty gradebook at a wrong path and then report nothing missing.
    if url.startswith(_SQLITE) and not Path(url.removeprefix(_SQLITE)).is_file():
        path = url.removeprefix(_SQLITE)
        raise UsageError(f"no nbgrader gradebook at {path}: {_release_hint(lab, course)}")
    with Gradebook(url, course.course_id) as gradebook:
        yield gradebook


def _test_cells(gradebook: Any, lab: LabSpec, assignment: str, course: Any) -> dict[str, float]:
    """The points of each exercise's test cell, checked against the lab."""
    from nbgrader.api import MissingEntry

    hint = _release_hint(lab, course)
    try:
        notebook = gradebook.find_notebook(assignment, assignment)
    except MissingEntry:
        raise UsageError(
            f"the gradebook has no assignment {assignment} with notebook {assignment}.ipynb: {hint}"
        ) from None
    points = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
    missing = [e.id for e in lab.exercises if grade_id(e.id) not in points]
    if missing:
        raise UsageError(
            f"{assignment} in the gradebook has no test cell for {', '.join(missing)}: {hint}"
        )
    changed = [e.id for e in lab.exercises if points[grade_id(e.id)] != e.points]
    if changed:
        raise UsageError(
            f"{assignment} was released with other points for {', '.join(changed)}: {hint}"
        )
    return points


def _check_record(
    record: SubmissionRecord, result: LabResult, lab: LabSpec, points: dict[str, float]
) -> None:
    if record.lab != lab.id:
        raise UsageError(f"{record.student}: a record of {record.lab}, not of {lab.id}")
    for exercise in result.exercises:
        cell = grade_id(exercise.id)
        if cell not in points:
            raise UsageError(
                f"{record.student}: {exercise.id} has no test cell {cell} in the gradebook"
            )
        if not 0 <= exercise.score <= points[cell]:
            raise UsageError(
                f"{record.student}: {exercise.id} scored {exercise.score:g} of {points[cell]:g}"
            )


@contextmanager
def _one_transaction(gradebook: Any) -> Iterator[None]:
    """Hold back the commits of nbgrader's Gradebook calls until the block has succeeded.

    Its methods commit after every step (the student, the submission, ...); flushing instead
    keeps the same checks while a failure anywhere rolls all of them back.
    """
    session = gradebook.db()
    session.commit = session.flush
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    finally:
        del session.commit
    session.commit()


def _write_submission(
    gradebook: Any, course: Any, assignment: str, student: str, result: LabResult
) -> None:
    """The student, the submission and every exercise's auto score: all of them or none."""
    from nbgrader.api import MissingEntry
    from sqlalchemy.exc import SAWarning

    submitted = Path(course.format_path(course.submitted_directory, student, assignment))
    timestamp = course.get_existing_timestamp(str(submitted))
    with _one_transaction(gradebook):
        try:
            gradebook.find_student(student)
        except MissingEntry:
            gradebook.add_student(student)
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            with warnings.catch_warnings():
                # add_submission builds its rows before adding them to the session, and
                # SQLAlchemy warns about each one on the way: nothing is wrong.
                warnings.simplefilter("ignore", SAWarning)
                gradebook.add_submission(assignment, student, timestamp=timestamp)
        else:
            if timestamp is not None:
                submission.timestamp = timestamp
        for exercise in result.exercises:
            try:
                grade = gradebook.find_grade(grade_id(exercise.id), assignment, assignment, student)
            except MissingEntry:
                raise DeepgradeError(
                    f"{student}'s submission of {assignment} predates its test cell "
                    f"{grade_id(exercise.id)}; remove the submission in formgrader and write again"
                ) from None
            _set_auto_score(grade, exercise.score)


def _set_auto_score(grade: Any, score: float) -> None:
    if grade.manual_score is None:
        grade.needs_manual_grade = False
    elif grade.auto_score != score:
        # Staff overrode an autograde that has now changed: their score stays, for review.
        grade.needs_manual_grade = True
    grade.auto_score = score


def _copy_timestamp(course: Any, assignment: str, student: str, folder: Path) -> None:
    """Keep the submission time next to the graded notebook, as nbgrader autograde does."""
    submitted = Path(course.format_path(course.submitted_directory, student, assignment))
    stamp = submitted / TIMESTAMP_FILE
    if stamp.is_file():
        write_atomic(folder / TIMESTAMP_FILE, stamp.read_text(encoding="utf-8"))


def _autograded_notebook(
    course: Any,
    assignment: str,
    record: SubmissionRecord,
    result: LabResult,
    report: GradebookReport,
) -> str | None:
    """The submitted notebook as autograde leaves it: the released cells, and the results.

    A submission that is not a notebook (a module), or whose notebook is in an archive or
    does not match the release, is shown on the released notebook instead.
    """
    name = f"{assignment}.ipynb"
    submitted = Path(course.format_path(course.submitted_directory, record.student, assignment))
    released = Path(course.format_path(course.release_directory, ".", assignment))
    # The batch names the student's file inside what it found: a folder or the file itself.
    # An archive's notebook is gone by now, and the release stands in for it.
    source = Path(record.source)
    handed_in = source / record.graded_file if source.is_dir() else source
    # The batch often found the student's file in submitted/ itself: try each file once.
    candidates = dict.fromkeys(p.resolve() for p in (submitted / name, handed_in, released / name))
    by_cell = {grade_id(exercise.id): exercise for exercise in result.exercises}
    for path in candidates:
        if path.suffix != ".ipynb" or not path.is_file():
            continue
        try:
            notebook = _sanitized(path, course, assignment, record.student)
        except Exception as exc:  # nbgrader raises bare exceptions for unusable metadata
            note = f"{record.student}: {path} does not match the release ({exc})"
            logger.warning(note)
            report.notes.append(note)
            continue
        _fill_test_cells(notebook, by_cell, result)
        return str(_nbformat().writes(notebook))
    note = f"{record.student}: no notebook to show in autograded/ (feedback will lack one)"
    report.notes.append(note)
    return None


def _nbformat() -> Any:
    """nbformat, which has no type annotations."""
    import nbformat

    return nbformat


def _sanitized(path: Path, course: Any, assignment: str, student: str) -> Any:
    """nbgrader's own clean-up of a submitted notebook: no outputs, locked cells restored."""
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
    )

    notebook = _nbformat().read(path, as_version=4)
    resources = {
        "nbgrader": {
            "notebook": assignment,
            "assignment": assignment,
            "student": student,
            "db_url": course.db_url,
        }
    }
    for step in (
        ClearOutput(),
        DeduplicateIds(),
        OverwriteCells(add_missing_cells=True),
        CheckCellMetadata(),
    ):
        notebook, resources = step.preprocess(notebook, resources)
    return notebook


def _fill_test_cells(notebook: Any, by_cell: dict[str, ExerciseResult], result: LabResult) -> None:
    """Give each test cell the outputs its ``score(...)`` call gives under nbgrader autograde.

    The explanation on stdout, then the points as the cell's value, or, for no points, the
    AssertionError that makes nbgrader count zero.
    """
    nbformat = _nbformat()
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        exercise = by_cell.get(meta.get("grade_id", ""))
        if cell.cell_type != "code" or exercise is None or meta.get("solution"):
            continue
        outputs = [nbformat.v4.new_output("stream", name="stdout", text=_explain(exercise, result))]
        if exercise.score > 0:
            outputs.append(
                nbformat.v4.new_output("execute_result", data={"text/plain": f"{exercise.score:g}"})
            )
        else:
            message = f"{exercise.id}: {exercise.status.value}: {exercise.message}"
            outputs.append(
                nbformat.v4.new_output(
                    "error", ename="AssertionError", evalue=message, traceback=[]
                )
            )
        cell.outputs = outputs


def _explain(exercise: ExerciseResult, result: LabResult) -> str:
    """deepgrade's report of one exercise, as the test cell prints it."""
    from rich.console import Console

    from deepgrade.reports.terminal import render_result

    stream = io.StringIO()
    console = Console(file=stream, force_jupyter=False, width=100, no_color=True)
    one = result.model_copy(update={"exercises": [exercise], "notes": []})
    render_result(one, console, verbose=False)
    return stream.getvalue()
