"""deepgrade's scores in an nbgrader course: its gradebook and its autograded notebooks.

formgrader, ``nbgrader generate_feedback`` and ``nbgrader export`` read two things: the
gradebook (a grade row per graded cell of each submission) and the notebooks under
``autograded/<student>/<assignment>/``. deepgrade fills both as ``nbgrader autograde`` would,
from result records instead of by running the notebooks again. Scores typed by hand
(``manual_score``) are never written here, so a re-run keeps every hand-graded cell.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import json
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field

from deepgrade.errors import DeepgradeError, UsageError
from deepgrade.model.records import RecordStatus, SubmissionRecord, write_atomic
from deepgrade.model.results import ExerciseResult, LabResult
from deepgrade.model.spec import LabSpec
from deepgrade.staff.deadlines import TIMESTAMP_FILE, parse_timestamp, read_timestamp_file
from deepgrade.staff.nbgrader import course_config
from deepgrade.staff.release import grade_id

# Where deepgrade keeps, in an nbgrader course folder, what it wrote into the gradebook.
STATE_DIR = ".deepgrade"
_SQLITE = "sqlite:///"
_STATE_LIMIT = 64 * 2**20


class GradebookReport(BaseModel):
    """What :func:`write_gradebook` wrote, and what it left out and why."""

    course_dir: Path
    assignment: str
    written: list[str] = Field(default_factory=list, description="Students whose scores landed.")
    unchanged: list[str] = Field(
        default_factory=list, description="Students already written from the same record."
    )
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

    A submission already written from the same record is left alone (``unchanged``), and when
    every one is and the gradebook's file is as this function left it, nbgrader is not even
    opened: a batch run again with nothing new touches nothing.
    """
    assignment = lab.folder.name
    report = GradebookReport(course_dir=course_dir.resolve(), assignment=assignment)
    graded: list[tuple[SubmissionRecord, LabResult]] = []
    for record in records:
        if record.status is not RecordStatus.GRADED or record.result is None:
            reason = f": {record.error}" if record.error else ""
            report.skipped[record.student] = f"{record.status.value}{reason}"
            continue
        graded.append((record, record.result))
    state = _WrittenState.load(report.course_dir, assignment)
    digests = {record.student: _digest(record, assignment) for record, _ in graded}
    if state.covers(digests):
        report.unchanged = sorted(digests)
        return report
    course = _course(course_dir)
    with _open_gradebook(course, lab) as gradebook:
        # The rows read once (released cells, submissions) stay valid across this function's own
        # commits; expiring them would reload each on its next use: 4 s for a class of 40.
        gradebook.db().expire_on_commit = False
        points = _test_cells(gradebook, lab, assignment, course)
        for record, result in graded:
            _check_record(record, result, lab, points)
        written = _WrittenSubmissions(gradebook, assignment)
        released = _ReleasedCells(gradebook, assignment)
        notebooks: dict[str, Path] = {}
        for record, result in graded:
            folder = Path(
                course.format_path(course.autograded_directory, record.student, assignment)
            )
            same = state.students.get(record.student) == digests[record.student]
            timestamp = _submitted_timestamp(course, assignment, record.student)
            if (
                same
                and state.kept(record.student)
                and written.holds(record.student, result, timestamp)
            ):
                report.unchanged.append(record.student)
                continue
            notebook = _autograded_notebook(course, released, assignment, record, result, report)
            _write_submission(gradebook, written, assignment, record.student, result, timestamp)
            if notebook is not None:
                notebooks[record.student] = folder / f"{assignment}.ipynb"
                write_atomic(notebooks[record.student], notebook)
            _copy_timestamp(course, assignment, record.student, folder)
            report.written.append(record.student)
        db = _database_file(course)
    state.save(digests, notebooks, db)
    logger.info(
        "gradebook {}: {} submissions written, {} unchanged, {} skipped",
        assignment,
        len(report.written),
        len(report.unchanged),
        len(report.skipped),
    )
    return report


def _digest(record: SubmissionRecord, assignment: str) -> str:
    """What a written submission is made of: the student's file and its result."""
    parts = [assignment, record.source, record.graded_file, record.content_hash]
    parts += [record.checks_version, record.result.model_dump_json() if record.result else ""]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class _WrittenSubmissions:
    """The gradebook's students and submissions of the assignment, read in two queries."""

    def __init__(self, gradebook: Any, assignment: str) -> None:
        self.students: set[str] = {student.id for student in gradebook.students}
        self.submissions: dict[str, Any] = {
            submission.student_id: submission
            for submission in gradebook.assignment_submissions(assignment)
        }

    def holds(self, student: str, result: LabResult, timestamp: Any) -> bool:
        """Whether the student's submission has exactly these auto scores and this time."""
        submission = self.submissions.get(student)
        if submission is None or (timestamp is not None and submission.timestamp != timestamp):
            return False
        grades = _grades(submission)
        return all(
            grade_id(e.id) in grades and grades[grade_id(e.id)].auto_score == e.score
            for e in result.exercises
        )


class _WrittenState(BaseModel):
    """What :func:`write_gradebook` last wrote for one assignment of a course: each student's
    record digest and autograded notebook, and the gradebook file's size and time right after.
    While that file is untouched (formgrader changes it) and the digests are the same, the
    gradebook holds exactly those records."""

    path: Path = Field(Path(), exclude=True, description="Where it is kept.")
    database: Path | None = None
    stamp: tuple[int, int] | None = None
    students: dict[str, str] = Field(default_factory=dict)
    notebooks: dict[str, Path] = Field(
        default_factory=dict, description="Each student's autograded notebook, where written."
    )

    @classmethod
    def load(cls, course_dir: Path, assignment: str) -> _WrittenState:
        path = course_dir / STATE_DIR / f"gradebook-{assignment}.json"
        try:
            return cls.model_validate_json(path.read_bytes()[:_STATE_LIMIT]).model_copy(
                update={"path": path}
            )
        except (OSError, ValueError):
            return cls(path=path)  # none yet, or unreadable: everything is checked

    def covers(self, digests: dict[str, str]) -> bool:
        if self.database is None or self.stamp is None or _stamp(self.database) != self.stamp:
            return False
        return all(
            self.students.get(student) == digest and self.kept(student)
            for student, digest in digests.items()
        )

    def kept(self, student: str) -> bool:
        """Whether the student's autograded notebook, if one was written, is still there."""
        notebook = self.notebooks.get(student)
        return notebook is None or notebook.is_file()

    def save(
        self, digests: dict[str, str], notebooks: dict[str, Path], database: Path | None
    ) -> None:
        state = self.model_copy(
            update={
                "database": database,
                "stamp": _stamp(database) if database else None,
                "students": self.students | digests,
                "notebooks": self.notebooks | notebooks,
            }
        )
        write_atomic(self.path, state.model_dump_json(indent=1))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _database_file(course: Any) -> Path | None:
    url = str(course.db_url)
    return Path(url.removeprefix(_SQLITE)).resolve() if url.startswith(_SQLITE) else None


def preload() -> None:
    """Import what writing a gradebook needs: nbgrader takes seconds (its package imports its
    server extensions). A batch that will write one calls this in a thread while it grades."""
    for module in ("nbformat", "nbgrader.api", "nbgrader.coursedir", "nbgrader.preprocessors"):
        importlib.import_module(module)


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
    gradebook: Any,
    written: _WrittenSubmissions,
    assignment: str,
    student: str,
    result: LabResult,
    timestamp: Any,
) -> None:
    """The student, the submission (received at ``timestamp``, if known) and every exercise's
    auto score: all of them or none."""
    from sqlalchemy.exc import SAWarning

    with _one_transaction(gradebook):
        if student not in written.students:
            gradebook.add_student(student)
        submission = written.submissions.get(student)
        if submission is None:
            with warnings.catch_warnings():
                # add_submission builds its rows before adding them to the session, and
                # SQLAlchemy warns about each one on the way: nothing is wrong.
                warnings.simplefilter("ignore", SAWarning)
                submission = gradebook.add_submission(assignment, student, timestamp=timestamp)
        elif timestamp is not None:
            submission.timestamp = timestamp
        grades = _grades(submission)
        for exercise in result.exercises:
            grade = grades.get(grade_id(exercise.id))
            if grade is None:
                raise DeepgradeError(
                    f"{student}'s submission of {assignment} predates its test cell "
                    f"{grade_id(exercise.id)}; remove the submission in formgrader and write again"
                )
            _set_auto_score(grade, exercise.score)
    # Known from now on: a later submission of the batch needs no query to find them.
    written.students.add(student)
    written.submissions[student] = submission


def _grades(submission: Any) -> dict[str, Any]:
    """A submission's grade rows by their cell's name (the exercise's grade id)."""
    return {grade.name: grade for notebook in submission.notebooks for grade in notebook.grades}


def _submitted(course: Any, assignment: str, student: str) -> Path:
    """The student's folder of the assignment under nbgrader's ``submitted/``."""
    return Path(course.format_path(course.submitted_directory, student, assignment))


def _submitted_timestamp(course: Any, assignment: str, student: str) -> datetime | None:
    """The submission's time from its ``timestamp.txt``, in UTC without a zone as nbgrader
    keeps it; ``None`` where there is none or it cannot be read. The file is the student's:
    read with deadlines' bounds (nbgrader's own reader follows links, reads any length, and
    stops the whole write at the first unparsable one)."""
    text = _timestamp_text(course, assignment, student)
    try:
        at = parse_timestamp(text) if text is not None else None
    except ValueError:
        return None
    return at.astimezone(UTC).replace(tzinfo=None) if at else None


def _timestamp_text(course: Any, assignment: str, student: str) -> str | None:
    stamp = _submitted(course, assignment, student) / TIMESTAMP_FILE
    try:
        return read_timestamp_file(stamp) if stamp.is_file() else None
    except ValueError:
        return None


def _set_auto_score(grade: Any, score: float) -> None:
    if grade.manual_score is None:
        grade.needs_manual_grade = False
    elif grade.auto_score != score:
        # Staff overrode an autograde that has now changed: their score stays, for review.
        grade.needs_manual_grade = True
    grade.auto_score = score


def _copy_timestamp(course: Any, assignment: str, student: str, folder: Path) -> None:
    """Keep the submission time next to the graded notebook, as nbgrader autograde does."""
    text = _timestamp_text(course, assignment, student)
    if text is not None:
        write_atomic(folder / TIMESTAMP_FILE, text)


def _autograded_notebook(
    course: Any,
    released_cells: _ReleasedCells,
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
    submitted = _submitted(course, assignment, record.student)
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
            notebook = _sanitized(path, course, released_cells, assignment, record.student)
        except Exception as exc:  # nbgrader raises bare exceptions for unusable metadata
            note = f"{record.student}: {path} does not match the release ({exc})"
            logger.warning(note)
            report.notes.append(note)
            continue
        _fill_test_cells(notebook, by_cell, result)
        # nbformat's v4 writer without nbformat.writes's schema validation, which only logs
        # (and the cells are the release's, nbgrader-checked, and deepgrade's outputs).
        return str(_nbformat().v4.nbjson.writes(notebook))
    note = f"{record.student}: no notebook to show in autograded/ (feedback will lack one)"
    report.notes.append(note)
    return None


def _nbformat() -> Any:
    """nbformat, which has no type annotations."""
    import nbformat

    return nbformat


def _sanitized(
    path: Path, course: Any, released: _ReleasedCells, assignment: str, student: str
) -> Any:
    """nbgrader's own clean-up of a submitted notebook: no outputs, locked cells restored."""
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds

    # nbformat.read without its schema validation, which only logs what it finds (a third of
    # the time of reading): nbgrader's own checks below are what refuses a broken notebook.
    nbformat = _nbformat()
    notebook = nbformat.convert(nbformat.reader.reads(path.read_text(encoding="utf-8")), 4)
    resources = {
        "nbgrader": {
            "notebook": assignment,
            "assignment": assignment,
            "student": student,
            "db_url": course.db_url,
        }
    }
    steps = [ClearOutput(), DeduplicateIds(), released.overwrite_cells(), CheckCellMetadata()]
    with _schemas_checked_once():
        for step in steps:
            notebook, resources = step.preprocess(notebook, resources)
    return notebook


class _ReleasedCells:
    """The released notebook's cells as nbgrader's ``OverwriteCells`` asks the gradebook for
    them, read once for the whole batch: nbgrader's own preprocessor opens the gradebook again
    and queries each cell of every submission (a third of the time of writing a class)."""

    def __init__(self, gradebook: Any, assignment: str) -> None:
        self._notebook = gradebook.find_notebook(assignment, assignment)
        self._source = {cell.name: cell for cell in self._notebook.source_cells}
        graded = [*self._notebook.grade_cells, *self._notebook.task_cells]
        self._graded = {cell.name: cell for cell in graded}

    def __enter__(self) -> _ReleasedCells:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def find_notebook(self, name: str, assignment: str) -> Any:
        return self._notebook

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> Any:
        return _found(self._source, name)

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> Any:
        return _found(self._graded, name)

    def overwrite_cells(self) -> Any:
        """nbgrader's ``OverwriteCells`` (missing cells added back), answered from here."""
        from nbgrader.preprocessors import OverwriteCells

        released = self

        class Overwrite(OverwriteCells):  # type: ignore[misc]
            def preprocess(self, nb: Any, resources: Any) -> Any:
                self.notebook_id = resources["nbgrader"]["notebook"]
                self.assignment_id = resources["nbgrader"]["assignment"]
                self.gradebook = released
                # The per-cell pass of OverwriteCells, then the cells it adds back.
                nb, resources = super(OverwriteCells, self).preprocess(nb, resources)
                nb, resources = self.add_missing_grade_cells(nb, resources)
                return self.add_missing_task_cells(nb, resources)

        return Overwrite(add_missing_cells=True)


def _found(cells: dict[str, Any], name: str) -> Any:
    from nbgrader.api import MissingEntry

    if name not in cells:
        raise MissingEntry()
    return cells[name]


@contextmanager
def _schemas_checked_once() -> Iterator[None]:
    """nbgrader checks each cell's metadata with ``jsonschema.validate``, which first checks
    the schema itself, every call: 5 ms a cell. Within this block nbgrader's metadata module
    validates with one validator per schema instead, and each distinct value once: the same
    verdicts."""
    from nbgrader.nbgraderformat import common

    real = common.jsonschema
    validators: dict[str, Any] = {}
    valid: set[tuple[str, str]] = set()

    class OneValidatorPerSchema:
        ValidationError = real.ValidationError

        @staticmethod
        def validate(instance: Any, schema: dict[str, Any]) -> None:
            key = json.dumps(schema, sort_keys=True)
            if key not in validators:
                kind = real.validators.validator_for(schema)
                kind.check_schema(schema)
                validators[key] = kind(schema)
            # A class hands in the released cells' metadata again and again: each distinct
            # value is checked once.
            seen = (key, json.dumps(instance, sort_keys=True, default=str))
            if seen not in valid:
                validators[key].validate(instance)
                valid.add(seen)

    common.jsonschema = OneValidatorPerSchema
    try:
        yield
    finally:
        common.jsonschema = real


def _fill_test_cells(notebook: Any, by_cell: dict[str, ExerciseResult], result: LabResult) -> None:
    """Give each test cell the outputs its ``score(...)`` call gives under nbgrader autograde.

    The explanation on stdout, then the points as the cell's value, or, for no points, the
    AssertionError that makes nbgrader count zero.
    """
    # Built as nbformat's new_output would, without its schema validation of each output (a
    # tenth of the time of writing a class): these three shapes are fixed.
    node = _nbformat().from_dict
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        exercise = by_cell.get(meta.get("grade_id", ""))
        if cell.cell_type != "code" or exercise is None or meta.get("solution"):
            continue
        text = _explain(exercise, result)
        outputs = [node({"output_type": "stream", "name": "stdout", "text": text})]
        if exercise.score > 0:
            value = {"text/plain": f"{exercise.score:g}"}
            outputs.append(
                node(
                    {
                        "output_type": "execute_result",
                        "data": value,
                        "metadata": {},
                        "execution_count": None,
                    }
                )
            )
        else:
            message = f"{exercise.id}: {exercise.status.value}: {exercise.message}"
            outputs.append(
                node(
                    {
                        "output_type": "error",
                        "ename": "AssertionError",
                        "evalue": message,
                        "traceback": [],
                    }
                )
            )
        cell.outputs = outputs


def _explain(exercise: ExerciseResult, result: LabResult) -> str:
    """deepgrade's report of one exercise, as the test cell prints it."""
    one = result.model_copy(update={"exercises": [exercise], "notes": []})
    return _report(one.model_dump_json())


@functools.lru_cache(maxsize=4096)
def _report(result_json: str) -> str:
    """The terminal report of a one-exercise result: a class shares most of them (every full
    mark of an exercise reads the same), and rich takes 5 ms to lay each one out."""
    from rich.console import Console

    from deepgrade.reports.terminal import render_result

    stream = io.StringIO()
    console = Console(file=stream, force_jupyter=False, width=100, no_color=True)
    render_result(LabResult.model_validate_json(result_json), console, verbose=False)
    return stream.getvalue()
