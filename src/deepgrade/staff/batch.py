"""Grading a whole class: every submission of one lab, in parallel, resumable.

Each submission is graded by an executor (:mod:`deepgrade.staff.executors`): a small pool of local
grader processes, or the workers of a Dask cluster; a grader that dies costs only the submission
it held, which gets a ``grader_error`` record. Each record is written to
``OUT/results/<student>.json`` as soon as it arrives, so that an interrupted batch resumes where
it stopped: a record whose content and checks are unchanged is kept.

Only this process writes into ``OUT``, every file in one atomic step, while it holds ``OUT``'s
lock; graders only send records back (local ones die with it). So a batch killed at any moment
leaves complete files or none, and nothing of it can write after a later run has started.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import statistics
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deepgrade.engine.grading import resolve_device
from deepgrade.engine.validation import validate_request
from deepgrade.errors import BusyError, SubmissionError, UsageError
from deepgrade.model.deadlines import Penalty, SubmissionTime
from deepgrade.model.records import (
    RESULTS_DIR,
    RecordStatus,
    SubmissionRecord,
    checks_version,
    csv_text,
    iter_records,
    read_record,
    record_path,
    remove_leftovers,
    write_atomic,
    write_record,
)
from deepgrade.model.results import IsolationLevel, Status
from deepgrade.model.spec import LabSpec
from deepgrade.sandbox.isolation import isolation_level
from deepgrade.settings import GraderSettings
from deepgrade.staff.deadlines import latest, penalty, submission_time
from deepgrade.staff.executors import ExecutorName, GradingConfig, GradingTask, open_executor
from deepgrade.staff.submissions import FoundSubmission, find_submissions

if TYPE_CHECKING:
    from deepgrade.staff.course import CourseConfig
    from deepgrade.staff.gradebook import GradebookReport

GRADES_FILE = "grades.csv"
FEEDBACK_DIR = "feedback"
SUMMARY_FILE = "summary.html"
LOCK_FILE = ".batch.lock"
_LIMITS_ONLY_REFUSED = (
    "refusing to grade a class with limits-only isolation: without bubblewrap every student's "
    "code runs as the grading account, so it can read, signal or overwrite another student's "
    "work and the results; make bubblewrap work here (docs/security.md), or accept that risk "
    "with --allow-limits-only (DEEPGRADE_ALLOW_LIMITS_ONLY=1)"
)


class BatchOptions(BaseModel):
    """How a batch runs, with its defaults: ``grade batch``'s options and :func:`run_batch`'s
    keywords are these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    jobs: int | None = Field(None, description="Submissions graded at once (default: the cores).")
    force: bool = Field(False, description="Regrade submissions whose results are up to date.")
    gradebook: Path | None = Field(
        None, description="nbgrader course folder whose gradebook receives the scores."
    )
    course: Path | None = Field(
        None, description="Course configuration: teams, the lab's deadline and late policy."
    )
    device: str = "auto"
    exercises: tuple[str, ...] = Field((), description="Only these exercises.")
    settings: GraderSettings = Field(default_factory=GraderSettings)
    executor: ExecutorName = Field(
        "local", description="Grade in local processes, or on the workers of a Dask cluster."
    )
    scheduler: str | None = Field(None, description="The Dask scheduler's address, with dask.")

    @property
    def workers(self) -> int:
        """``jobs``, or as many as this process may use cores."""
        if self.jobs is not None:
            return self.jobs
        if hasattr(os, "sched_getaffinity"):
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1


def _options(options: BatchOptions | None, fields: dict[str, Any]) -> BatchOptions:
    if "settings" in fields and fields["settings"] is None:
        del fields["settings"]  # None stands for the default settings, as everywhere else
    if "exercises" in fields:
        fields["exercises"] = tuple(fields["exercises"])
    try:
        return BatchOptions.model_validate(dict(options or BatchOptions()) | fields)
    except ValidationError as exc:
        raise UsageError(f"invalid batch options: {exc}") from None


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: what happened to each submission found, and its figures.

    ``graded`` lists the students graded in this run (those who failed included), ``skipped``
    those whose record was up to date; ``failed`` the records of this run's submissions that
    could not be graded (unreadable, or the grader failed). Whole records stay on disk, so that
    a batch's memory does not grow with its class: :attr:`records` reads them.
    """

    out: Path
    max_score: float
    graded: list[str]
    skipped: list[str]
    failed: list[SubmissionRecord]
    mean_score: float | None
    complete: bool
    gradebook: GradebookReport | None = None
    isolation: IsolationLevel | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[SubmissionRecord]:
        """The record of every submission found, by student (read from ``out``)."""
        found = {*self.graded, *self.skipped}
        return [r for r in iter_records(self.out) if r.student in found]


@dataclass
class _Tally:
    """The figures of a batch, kept as its records go by."""

    failed: list[SubmissionRecord] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    grader_errors: int = 0

    def add(self, record: SubmissionRecord, *, fresh: bool) -> None:
        if record.status is RecordStatus.GRADED:
            self.scores.append(record.score)
        elif fresh:
            self.failed.append(record)
        self.grader_errors += record.status is RecordStatus.GRADER_ERROR


class BatchProgress(Protocol):
    """Told what a batch is doing, to show it (see :class:`RichProgress`)."""

    def start(self, total: int) -> None: ...

    def advance(self, record: SubmissionRecord) -> None: ...


def run_batch(
    submissions: Path,
    *,
    lab: str,
    out: Path,
    progress: BatchProgress | None = None,
    options: BatchOptions | None = None,
    **fields: Any,
) -> BatchResult:
    """Grade every submission of ``lab`` in ``submissions`` into the folder ``out``.

    Writes ``out/results/<student>.json`` per submission, then ``out/grades.csv`` from every
    record there, the feedback pages and class summary, and with ``gradebook`` the scores into
    that nbgrader course's gradebook. ``exercises`` limits grading to those exercises.
    ``executor`` is where submissions are graded: ``local`` processes (``jobs`` at once) or
    ``dask``, the workers of the Dask scheduler at ``scheduler`` (``tcp://HOST:8786``).

    How it runs is ``options`` (:class:`BatchOptions`), or its fields given as keywords.
    """
    options = _options(options, fields)
    device = options.device
    if options.workers < 1:
        raise UsageError(f"--jobs must be at least 1, not {options.workers}")
    request = validate_request(
        lab, options.exercises, settings=options.settings, submissions=submissions
    )
    resolve_device(device)
    spec = request.load_lab()
    exercise_ids = request.exercises
    chosen = [spec.exercise(e) for e in exercise_ids] or spec.exercises
    course = _Course.load(options.course, spec.id)
    # Resolved once: every grader then runs at this level or fails, never silently at another.
    isolation = isolation_level(options.settings.isolation)
    if isolation is IsolationLevel.LIMITS and not options.settings.allow_limits_only:
        raise UsageError(_LIMITS_ONLY_REFUSED)
    config = GradingConfig(
        lab_id=spec.id,
        lab_folder=spec.folder,
        version=_version(spec, exercise_ids),
        max_score=sum(e.points for e in chosen),
        exercises=exercise_ids,
        device=device,
        settings=options.settings.model_copy(update={"isolation": isolation.setting}),
        isolation=isolation,
    )
    found = find_submissions(submissions, spec, exclude=out)
    times = {f.student: submission_time(f, course.zone) for f in found}
    connected = open_executor(
        options.executor,
        jobs=options.workers,
        scheduler=options.scheduler,
        settings=options.settings,
    )
    with connected as grader, _locked(out):
        for folder in (out, out / RESULTS_DIR, out / FEEDBACK_DIR):
            remove_leftovers(folder)
        tasks, kept = _plan(found, out, config.version, force=options.force)
        kept = [_stamped(out, record, times[record.student]) for record in kept]
        if progress is not None:
            progress.start(len(tasks))
        tally = _Tally()
        for record in kept:
            tally.add(record, fresh=False)
        graded: list[str] = []
        from deepgrade.reports.feedback import write_feedback

        def arrived(record: SubmissionRecord) -> None:
            record = record.model_copy(update={"submitted": times[record.student]})
            write_record(record, record_path(out, record.student))
            # Written now, while this process mostly waits for the graders, not at the end;
            # a team's pages wait for all its members' submissions.
            if course.team_of(record.student) is None or not course.team_lab:
                path = _feedback_path(out, record.student)
                write_feedback(record, spec, path, late=course.penalty(record.student, record))
            graded.append(record.student)
            tally.add(record, fresh=True)
            if progress is not None:
                progress.advance(record)

        # The summary's plotting library takes a second to import, nbgrader five: while the
        # graders work. (With nothing to grade, the gradebook may not need nbgrader at all.)
        threading.Thread(
            target=importlib.import_module, args=("deepgrade.reports.summary",)
        ).start()
        if options.gradebook is not None and tasks:
            from deepgrade.staff.gradebook import preload

            threading.Thread(target=preload).start()
        grader.grade(tasks, config, arrived)
        gradebook_report = _publish(out, spec, options, course, fresh=set(graded))
    return BatchResult(
        out=out,
        max_score=config.max_score,
        graded=sorted(graded),
        skipped=[r.student for r in kept],
        failed=sorted(tally.failed, key=lambda r: r.student),
        mean_score=statistics.fmean(tally.scores) if tally.scores else None,
        complete=tally.grader_errors == 0,
        gradebook=gradebook_report,
        isolation=config.isolation,
        notes=_time_notes(times),
    )


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock: two batches writing one folder would mix their results.

    The kernel releases the lock when its holder dies, however it dies, so a killed batch
    never blocks the next one.
    """
    out.mkdir(parents=True, exist_ok=True)
    with (out / LOCK_FILE).open("a+", encoding="utf-8") as stream:
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = stream.read().strip()
            by = f" (process {holder})" if holder.isdigit() else ""
            raise BusyError(
                f"another grade batch{by} is writing to {out}; "
                "wait for it to finish, or give this one another --out"
            ) from None
        stream.truncate(0)
        stream.write(str(os.getpid()))
        stream.flush()
        yield


@dataclass(frozen=True)
class _Course:
    """What a course configuration adds to a batch of one of its labs: the team column, a
    page for every member of a team (on the team lab) and the lab's deadline."""

    config: CourseConfig | None
    lab: str

    @classmethod
    def load(cls, path: Path | None, lab: str) -> _Course:
        """Read before any grading, so that a mistake in the configuration costs none."""
        if path is None:
            return cls(None, lab)
        from deepgrade.staff.course import load_course

        return cls(load_course(path), lab)

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.config.timezone) if self.config is not None else UTC

    @property
    def team_lab(self) -> bool:
        return self.config is not None and self.config.report.lab == self.lab

    @property
    def has_deadline(self) -> bool:
        return self.config is not None and self.config.late_policy(self.lab) is not None

    def team_of(self, student: str) -> str | None:
        return self.config.team_of(student) if self.config is not None else None

    def penalty(self, student: str, record: SubmissionRecord) -> Penalty | None:
        """What lateness costs ``student`` on ``record`` (their own, or their team's)."""
        if self.config is None:
            return None
        return penalty(self.config, self.lab, student, record.submitted)


def _stamped(out: Path, record: SubmissionRecord, submitted: SubmissionTime) -> SubmissionRecord:
    """A kept record with the time found now: a resubmission of the same file is later."""
    if record.submitted == submitted:
        return record
    record = record.model_copy(update={"submitted": submitted})
    write_record(record, record_path(out, record.student))
    return record


def _time_notes(times: dict[str, SubmissionTime]) -> list[str]:
    """Where the submission times came from, and every time that needs a look."""
    sources = Counter(time.source.value for time in times.values())
    notes = [f"submission times: {', '.join(f'{n} {s}' for s, n in sources.most_common())}"]
    notes += [f"{student}: {time.describe()}" for student, time in times.items() if time.problem]
    return notes


def _version(lab: LabSpec, exercises: Sequence[str]) -> str:
    # Results of some exercises only must not pass for results of the whole lab.
    base = checks_version(lab)
    return f"{base}+{','.join(exercises)}" if exercises else base


def _plan(
    found: list[FoundSubmission], out: Path, version: str, *, force: bool
) -> tuple[list[GradingTask], list[SubmissionRecord]]:
    """Split the submissions into those to grade and the records still current."""
    tasks: list[GradingTask] = []
    # Kept whole only for their figures; a resumed class is small enough here, and these go
    # once the batch returns.
    kept: list[SubmissionRecord] = []
    for submission in found:
        content_hash = submission.content_hash()
        previous = _previous(record_path(out, submission.student))
        if not force and previous is not None and previous.is_current(content_hash, version):
            kept.append(previous)
        else:
            tasks.append(GradingTask(submission, content_hash))
    return tasks, kept


def _previous(path: Path) -> SubmissionRecord | None:
    if not path.is_file():
        return None
    try:
        return read_record(path)
    except SubmissionError as exc:
        # An unreadable record is regraded and replaced, not a reason to stop the batch.
        logger.warning("{}; it will be replaced", exc)
        return None


# -- what a batch writes at the end -------------------------------------------------------------
def write_grades(
    path: Path,
    lab: LabSpec,
    records: Iterable[SubmissionRecord],
    *,
    team_of: Callable[[str], str | None] | None = None,
    late: Callable[[str, SubmissionRecord], Penalty | None] | None = None,
) -> None:
    """``grades.csv``: one row per student with each exercise's score, total and status.

    ``team_of`` gives a student's team (a course configuration's ``team_of``). With ``late``
    (what lateness costs a student), the row goes on with the submission's time and its
    source, the penalty's reason and points, and the final score; ``total`` is the raw score,
    before the penalty. A submission
    the grader failed on has no total (it is not the student's zero), and an exercise the
    grader failed on no score; one that could not be read scores 0. The records are read once,
    and only their scores kept.
    """
    rows = []
    scored: set[str] = set()
    for record in records:
        exercises = record.result.exercises if record.result else []
        scores = {e.id: e.score for e in exercises if e.status is not Status.GRADER_ERROR}
        scored |= {e.id for e in exercises}
        failed = record.status is RecordStatus.GRADER_ERROR
        total = "" if failed else _number(record.score)
        extra = _late_cells(late(record.student, record), record, failed) if late else []
        rows.append((record.student, scores, total, record.max_score, record.status.value, extra))
    # The lab's exercises that some record scores, in the lab's order (all when none does).
    exercise_ids = [e.id for e in lab.exercises if e.id in scored] or [e.id for e in lab.exercises]
    header = ["student", "team", *exercise_ids, "total", "max_score", "status"]
    header += list(_LATE_COLUMNS) if late else []
    lines = [
        [
            student,
            (team_of(student) if team_of else None) or "",
            *(_number(scores[i]) if i in scores else "" for i in exercise_ids),
            total,
            _number(max_score),
            status,
            *extra,
        ]
        for student, scores, total, max_score, status, extra in sorted(rows, key=lambda r: r[0])
    ]
    write_atomic(path, csv_text([header, *lines]))


_LATE_COLUMNS = ("submitted", "time_source", "late", "penalty", "final")


def _late_cells(penalty: Penalty | None, record: SubmissionRecord, failed: bool) -> list[str]:
    submitted = record.submitted or SubmissionTime()
    when = submitted.at.isoformat() if submitted.at else ""
    problem = f" ({submitted.problem})" if submitted.problem else ""
    source = f"{submitted.source.value}{problem}"
    if penalty is None or failed:
        return [when, source, "", "", ""]
    points = penalty.points(record.score)
    return [when, source, penalty.reason, _number(points), _number(record.score - points)]


def _number(value: float) -> str:
    return f"{value:g}"


def _feedback_path(out: Path, student: str) -> Path:
    return out / FEEDBACK_DIR / f"{student}.html"


def _publish(
    out: Path,
    lab: LabSpec,
    options: BatchOptions,
    course: _Course,
    *,
    fresh: set[str],
) -> GradebookReport | None:
    """``grades.csv``, the feedback pages not written yet (``fresh`` students have theirs),
    the class summary and, if asked, the scores in nbgrader's gradebook, from every record in
    ``out`` (those of earlier runs too: an interrupted run may not have published them). On
    the team lab, every member of a team gets the page of the team's latest submission.

    Each output reads the records from disk one at a time: a class of any size is published
    in the memory of one record and a line per student.
    """
    from deepgrade.reports.feedback import write_feedback
    from deepgrade.reports.summary import write_summary

    def records() -> Iterator[SubmissionRecord]:
        return (r for r in iter_records(out) if r.lab == lab.id)

    late = course.penalty if course.has_deadline else None
    write_grades(out / GRADES_FILE, lab, records(), team_of=course.team_of, late=late)
    teams: dict[str, list[SubmissionRecord]] = {}
    for record in records():
        team = course.team_of(record.student) if course.team_lab else None
        if team is not None:
            # Only what picks the latest is kept: the class's records stay on disk.
            teams.setdefault(team, []).append(record.model_copy(update={"result": None}))
        elif record.student not in fresh:
            path = _feedback_path(out, record.student)
            write_feedback(record, lab, path, late=course.penalty(record.student, record))
    if course.config is not None:
        _write_team_pages(out, lab, course, course.config.teams, teams)
    write_summary(records(), lab, out / SUMMARY_FILE, feedback_dir=FEEDBACK_DIR)
    if options.gradebook is None:
        return None
    from deepgrade.staff.gradebook import write_gradebook

    return write_gradebook(options.gradebook, lab, records())


def _write_team_pages(
    out: Path,
    lab: LabSpec,
    course: _Course,
    members: dict[str, list[str]],
    submitted: dict[str, list[SubmissionRecord]],
) -> None:
    """Each team member's page of the team's latest submission, named for them."""
    from deepgrade.reports.feedback import TeamView, write_feedback

    for team, records in submitted.items():
        chosen = read_record(record_path(out, latest(records).student))
        view = TeamView(id=team, members=tuple(members[team]), submitter=chosen.student)
        for student in members[team]:
            path = _feedback_path(out, student)
            late = course.penalty(student, chosen)
            write_feedback(chosen, lab, path, student=student, team=view, late=late)


# -- showing progress ---------------------------------------------------------------------------
class RichProgress:
    """A progress bar with count and ETA on stderr, and a line for each submission that failed."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("grading"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
        )
        self._task = self._progress.add_task("grading", total=0)

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def start(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def advance(self, record: SubmissionRecord) -> None:
        if record.status is not RecordStatus.GRADED:
            from rich.text import Text

            # Plain text: an error message quotes the student's code, which is not markup.
            line = Text.assemble((record.student, "red"), f": {record.status.value}: ")
            self._console.print(line + Text(record.error), highlight=False, soft_wrap=True)
        self._progress.advance(self._task)
