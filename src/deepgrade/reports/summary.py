"""The class summary: one staff-only HTML page on how a class did in a lab.

It shows the grade distribution, each exercise's pass rate and the failures that came up most
often. Failure messages are grouped after their numbers are blanked out, so that the same
mistake on different values counts once per student; hidden checks' messages appear too,
which is why the page is for staff only.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from matplotlib.ticker import MaxNLocator

from deepgrade.errors import UsageError
from deepgrade.model.records import RecordStatus, SubmissionRecord, write_atomic
from deepgrade.model.results import ExerciseResult, Status
from deepgrade.model.spec import LabSpec
from deepgrade.reports import html

# Failure patterns listed per exercise; the rest are counted.
TOP_FAILURES = 5
# A list of students longer than this starts folded: a large class keeps the page short.
OPEN_ROWS = 40

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)(?![\w])")
_NUMBER_LIST = re.compile(r"\[\s*#(?:\s*,\s*#)*\s*\]")
# A list of numbers, some of them already written #.
_ITEM = rf"(?:#|{_NUMBER.pattern})"
_ANY_LIST = re.compile(rf"\[\s*{_ITEM}(?:\s*,\s*{_ITEM})*\s*\]")
_SPACE = re.compile(r"\s+")


def normalise_message(message: str) -> str:
    """The message with every number, and every list of numbers, written ``#``."""
    text = _NUMBER.sub("#", message)
    return _SPACE.sub(" ", _NUMBER_LIST.sub("[#]", text)).strip()


@dataclass
class FailureGroup:
    """One kind of failure of one exercise: the check, the message's pattern, who had it.

    ``numbers`` are the example's numbers where every message of the group has the same one
    there (the constants of a formula, a shape, an index), ``None`` where they differ.
    """

    check: str
    pattern: str
    example: str
    students: set[str] = field(default_factory=set)
    numbers: list[str | None] = field(init=False)
    aligned: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        self.numbers = list(_NUMBER.findall(self.example))

    def add(self, student: str, message: str) -> None:
        self.students.add(student)
        numbers = _NUMBER.findall(message)
        if len(numbers) != len(self.numbers):
            self.aligned = False  # lists of numbers of another length: they vary
            return
        self.numbers = [a if a == b else None for a, b in zip(self.numbers, numbers, strict=True)]

    @property
    def shown(self) -> str:
        """The pattern as staff read it: the example with only its varying numbers written
        ``#``, so that a formula's constants stay (``1/(1 + exp(-x))``, not ``#/(# + ...)``)."""
        kept = iter(self.numbers)
        text = _NUMBER.sub(lambda match: next(kept) or "#", self.example)
        if not self.aligned:
            text = _ANY_LIST.sub("[#]", text)
        return _SPACE.sub(" ", _NUMBER_LIST.sub("[#]", text)).strip()


@dataclass
class ExerciseStats:
    id: str
    title: str
    points: float
    statuses: Counter[Status] = field(default_factory=Counter)
    scores: list[float] = field(default_factory=list)
    failures: dict[tuple[str, str], FailureGroup] = field(default_factory=dict)

    @property
    def graded(self) -> int:
        return sum(self.statuses.values())

    @property
    def pass_rate(self) -> float:
        return self.statuses[Status.PASSED] / self.graded if self.graded else 0.0

    @property
    def mean_score(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0

    def top_failures(self) -> list[FailureGroup]:
        ranked = sorted(self.failures.values(), key=lambda g: (-len(g.students), g.check))
        return ranked[:TOP_FAILURES]

    def add(self, student: str, result: ExerciseResult) -> None:
        self.statuses[result.status] += 1
        self.scores.append(result.score)
        if result.status is Status.PASSED:
            return
        if not result.checks or result.status is Status.NOT_IMPLEMENTED:
            # One sentence stands for the whole exercise; a stub fails every check alike.
            self._count(student, result.status.value.replace("_", " "), result.message)
            return
        for check in result.checks:
            if check.status is not Status.PASSED:
                self._count(student, check.label, check.message or check.status.value)

    def _count(self, student: str, check: str, message: str) -> None:
        key = (check, normalise_message(message))
        self.failures.setdefault(key, FailureGroup(check, key[1], message)).add(student, message)


@dataclass(frozen=True)
class StudentRow:
    """What the summary keeps of one record: its line in the list of students."""

    student: str
    status: RecordStatus
    score: float
    max_score: float
    error: str

    @classmethod
    def of(cls, record: SubmissionRecord) -> StudentRow:
        return cls(record.student, record.status, record.score, record.max_score, record.error)


def class_statistics(
    records: Iterable[SubmissionRecord], lab: LabSpec
) -> tuple[list[StudentRow], list[ExerciseStats]]:
    """A row per record, and each exercise's statuses, scores and failure groups.

    The records are read once and not kept, so that a large class can be summarised from
    records read one at a time.
    """
    rows: list[StudentRow] = []
    wrong: list[str] = []
    stats = {e.id: ExerciseStats(e.id, e.title, e.points) for e in lab.exercises}
    for record in records:
        if record.lab != lab.id:
            wrong.append(record.student)
            continue
        rows.append(StudentRow.of(record))
        if record.status is not RecordStatus.GRADED or record.result is None:
            continue
        for result in record.result.exercises:
            if result.id in stats:
                stats[result.id].add(record.student, result)
    if wrong:
        raise UsageError(
            f"records of {', '.join(wrong[:5])} are not for lab {lab.id}: "
            "summarise one lab at a time"
        )
    return rows, list(stats.values())


def render_summary(
    records: Iterable[SubmissionRecord], lab: LabSpec, *, feedback_dir: str | None = "feedback"
) -> str:
    """The class summary page as HTML text.

    ``feedback_dir`` is where the students' feedback pages are, relative to the summary's
    folder, for links from the list of students; ``None`` leaves the links out.
    """
    rows, exercises = class_statistics(records, lab)
    graded = [row for row in rows if row.status is RecordStatus.GRADED]
    scores = [row.score for row in graded]
    return html.render(
        "summary.html.j2",
        lab=lab,
        records=sorted(rows, key=lambda row: row.student),
        graded=graded,
        not_graded=[row for row in rows if row.status is not RecordStatus.GRADED],
        statuses=Counter(row.status for row in rows),
        scores=_score_stats(scores),
        histogram=_histogram(scores, lab.max_score) if scores else "",
        exercises=exercises,
        pass_rates=_pass_rates(exercises) if graded else "",
        status_order=html.STATUS_ORDER,
        feedback_links={
            row.student: f"{feedback_dir}/{quote(row.student)}.html"
            for row in rows
            if feedback_dir is not None
        },
        shorten=html.shorten,
        open_rows=OPEN_ROWS,
        RecordStatus=RecordStatus,
    )


def write_summary(
    records: Iterable[SubmissionRecord],
    lab: LabSpec,
    path: Path,
    *,
    feedback_dir: str | None = "feedback",
) -> None:
    """Write the class summary to ``path`` in one step."""
    write_atomic(path, render_summary(records, lab, feedback_dir=feedback_dir))


def _score_stats(scores: list[float]) -> dict[str, float]:
    if not scores:
        return {}
    return {
        "mean": statistics.fmean(scores),
        "median": statistics.median(scores),
        "min": min(scores),
        "max": max(scores),
    }


def _histogram(scores: list[float], max_score: float) -> str:
    figure = html.new_figure(6.4, 2.8)
    axes = figure.subplots()
    # One bin a point for short labs, at most 20 bins; the top bin includes the full score.
    bins = max(5, min(20, math.ceil(max_score)))
    axes.hist(scores, bins=bins, range=(0, max_score or 1), color="#1a5fb4", edgecolor="white")
    axes.set_xlabel("points")
    axes.set_ylabel("students")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", alpha=0.3)
    return html.figure_uri(figure)


def _pass_rates(exercises: list[ExerciseStats]) -> str:
    """Stacked horizontal bars: each exercise's share of students by status."""
    figure = html.new_figure(6.4, 0.9 + 0.32 * len(exercises))
    axes = figure.subplots()
    names = [e.id for e in exercises]
    left = [0.0] * len(exercises)
    for status in html.STATUS_ORDER:
        shares = [e.statuses[status] / e.graded if e.graded else 0.0 for e in exercises]
        if any(shares):
            axes.barh(
                names,
                shares,
                left=left,
                color=html.STATUS_COLOURS[status],
                label=status.value.replace("_", " "),
            )
            left = [a + b for a, b in zip(left, shares, strict=True)]
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.xaxis.set_major_formatter("{x:.0%}")
    axes.set_xlabel("share of graded submissions")
    figure.legend(loc="outside lower center", ncol=4, fontsize="small")
    return html.figure_uri(figure)
