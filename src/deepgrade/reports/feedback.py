"""A student's feedback page: one self-contained HTML file per graded submission.

The page explains every exercise that did not pass. Public checks are shown in full; hidden
checks only by name and status, because their messages carry the hidden inputs and values,
and so does whatever the student's code printed while they ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepgrade.model.deadlines import Penalty
from deepgrade.model.records import RecordStatus, SubmissionRecord, write_atomic
from deepgrade.model.results import CheckResult, ExerciseResult, Status
from deepgrade.model.spec import LabSpec
from deepgrade.reports import figures, html

# Characters of printed output kept per exercise: enough to see a traceback or a few prints.
OUTPUT_LIMIT = 4000

_STATUS_HELP = {
    Status.PASSED: "Every check passed.",
    Status.FAILED: "Some checks did not pass; the checks that passed earned their share.",
    Status.ERROR: "Your code raised an exception during a check.",
    Status.TIMEOUT: "Your code did not finish in time: an endless loop, or far too slow?",
    Status.FORBIDDEN: "Your code calls a function that this exercise asks you to write yourself, "
    "so the exercise earns no points.",
    Status.NOT_IMPLEMENTED: "Not written yet: the function still raises NotImplementedError.",
    Status.MISSING: "The submission does not define what this exercise needs: check the "
    "spelling, and that the cell runs without an error.",
    Status.GRADER_ERROR: "The grader itself failed on this exercise, not your code: it is not "
    "graded yet and not counted as a zero. The course staff will fix it and grade it again.",
}


@dataclass(frozen=True)
class TeamView:
    """The team whose submission a page shows: its id, its members and who handed it in."""

    id: str
    members: tuple[str, ...]
    submitter: str


@dataclass(frozen=True)
class _ExerciseView:
    result: ExerciseResult
    title: str
    help: str
    detail: str
    failures: list[CheckResult]
    passed: list[str]
    hidden_failures: list[CheckResult]
    hidden_total: int
    figures: list[figures.Figure]
    output: str
    output_withheld: bool


def render_feedback(
    record: SubmissionRecord,
    lab: LabSpec,
    *,
    student: str | None = None,
    team: TeamView | None = None,
    late: Penalty | None = None,
) -> str:
    """The feedback page for ``record``, a submission of ``lab``, as HTML text.

    ``student`` is the one the page is for (the submitter by default): a member of ``team``,
    which handed ``record`` in. ``late`` is what lateness costs them: the page shows the raw
    score, the penalty and why, and the final score.
    """
    exercises = [_exercise_view(e, lab) for e in record.result.exercises] if record.result else []
    return html.render(
        "feedback.html.j2",
        record=record,
        student=student or record.student,
        team=team,
        late=late,
        lab=lab,
        file=Path(record.graded_file or record.source).name,
        percent=100 * record.score / record.max_score if record.max_score else 0.0,
        exercises=exercises,
        RecordStatus=RecordStatus,
        Status=Status,
    )


def write_feedback(
    record: SubmissionRecord,
    lab: LabSpec,
    path: Path,
    *,
    student: str | None = None,
    team: TeamView | None = None,
    late: Penalty | None = None,
) -> None:
    """Write the feedback page of ``record`` to ``path`` in one step (see render_feedback)."""
    write_atomic(path, render_feedback(record, lab, student=student, team=team, late=late))


def _exercise_view(result: ExerciseResult, lab: LabSpec) -> _ExerciseView:
    titles = {e.id: e.title for e in lab.exercises}
    public = [c for c in result.checks if not c.hidden]
    hidden = [c for c in result.checks if c.hidden]
    # A stub fails every check the same way: one sentence says it better than a list.
    unwritten = result.status is Status.NOT_IMPLEMENTED
    return _ExerciseView(
        result=result,
        title=titles.get(result.id, ""),
        help=_STATUS_HELP[result.status],
        # Without checks the exercise was stopped before any ran (missing, forbidden): its
        # message says why, and holds nothing hidden.
        detail=result.message if not result.checks else "",
        failures=[] if unwritten else [c for c in public if c.status is not Status.PASSED],
        passed=[c.name for c in public if c.status is Status.PASSED],
        hidden_failures=[] if unwritten else [c for c in hidden if c.status is not Status.PASSED],
        hidden_total=len(hidden),
        figures=_figures(result, public),
        output="" if hidden else html.shorten(result.output, OUTPUT_LIMIT),
        output_withheld=bool(hidden and result.output),
    )


def _figures(result: ExerciseResult, public: list[CheckResult]) -> list[figures.Figure]:
    """The function against its reference, then each public check's curves and tiers."""
    drawn = [figures.function_sweep(result.sweep)] if result.sweep else []
    for check in public:
        if any(check.series.values()):
            drawn.append(figures.training_curves(check))
        if check.task is not None:
            drawn.append(figures.task_tiers(check, check.task))
    return drawn
