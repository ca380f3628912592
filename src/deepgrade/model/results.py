"""Statuses, results and how check outcomes become points."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class IsolationLevel(StrEnum):
    """What separates a worker from the host, recorded with every result."""

    BUBBLEWRAP = "bubblewrap"
    LIMITS = "limits-only"

    @property
    def setting(self) -> str:
        """The ``isolation`` setting that asks for exactly this level."""
        return "bubblewrap" if self is IsolationLevel.BUBBLEWRAP else "limits"


def format_points(value: float) -> str:
    """Points as tables and pages show them: at most two decimals, no trailing zeros
    (``0.33``, ``1.5``, ``2``). JSON and CSV keep the exact value."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    # A tiny negative rounds to "-0": no score is shown with a sign it does not have.
    return "0" if text == "-0" else text


class Status(StrEnum):
    """The status of an exercise: COURSE.md's seven, and ``grader_error`` for course staff.

    ``grader_error`` means a check itself crashed (a bug in the grader's check or reference):
    the exercise is not graded, its 0 is not a grade, and its lab result is incomplete.
    """

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    FORBIDDEN = "forbidden"
    NOT_IMPLEMENTED = "not_implemented"
    MISSING = "missing"
    GRADER_ERROR = "grader_error"


class TaskScore(BaseModel):
    """What an outcome check measured, with its tiers: the feedback page draws the value
    against each tier's threshold."""

    name: str = Field(description="The metric as students read it, e.g. test accuracy.")
    value: float
    higher_is_better: bool
    tiers: list[tuple[float, float]] = Field(description="(threshold, credit) pairs.")
    credit: float = Field(ge=0, le=1, description="The credit of the best tier reached.")

    def reaches(self, threshold: float) -> bool:
        return reaches(self.value, threshold, higher_is_better=self.higher_is_better)

    def tiers_text(self, separator: str = "; ") -> str:
        """The tiers as students read them: ``>= 0.9 earns 100%; >= 0.8 earns 50%``."""
        sign = ">=" if self.higher_is_better else "<="
        return separator.join(f"{sign} {t:g} earns {c:.0%}" for t, c in self.tiers)


def reaches(value: float, threshold: float, *, higher_is_better: bool) -> bool:
    """Whether a metric's ``value`` reaches a tier's ``threshold``."""
    return value >= threshold if higher_is_better else value <= threshold


class Sweep(BaseModel):
    """A student's function of one tensor next to its reference over a range of inputs, with
    the gradients where both could be computed, for the feedback page's plot. Every number was
    decoded and checked by the grader; the student's may be NaN or infinite."""

    call: str
    inputs: list[float]
    expected: list[float]
    got: list[float]
    expected_gradient: list[float] = Field(default_factory=list)
    got_gradient: list[float] = Field(default_factory=list)
    rtol: float
    atol: float

    def differs(self, expected: list[float], got: list[float]) -> list[bool]:
        """Where ``got`` is not within the tolerance of ``expected`` (NaN never is, unless
        expected too)."""
        return [
            not (e == g or abs(g - e) <= self.atol + self.rtol * abs(e) or (e != e and g != g))
            for e, g in zip(expected, got, strict=True)
        ]


class CheckResult(BaseModel):
    """One check's verdict; ``status`` is ``passed``, ``failed`` or what the code earned."""

    name: str
    status: Status
    weight: float
    hidden: bool = False
    message: str = ""
    credit: float | None = Field(
        None, ge=0, le=1, description="Share of the weight earned, when not all or nothing."
    )
    series: dict[str, list[float]] = Field(
        default_factory=dict, description="Curves the check recorded, such as a loss history."
    )
    task: TaskScore | None = Field(None, description="An outcome check's metric and tiers.")
    # Set when the exercise is scored (score_exercise), which knows the exercise's points.
    score: float = Field(0.0, description="Points this check earned of its exercise's.")
    max_score: float = Field(0.0, description="Points this check is worth in its exercise.")

    @property
    def earned(self) -> float:
        if self.credit is not None:
            return self.credit
        return 1.0 if self.status is Status.PASSED else 0.0

    @property
    def label(self) -> str:
        return f"[hidden] {self.name}" if self.hidden else self.name

    def public_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.status is Status.PASSED,
            "score": self.score,
            "max_score": self.max_score,
            "hidden": self.hidden,
            "message": self.message,
        }


class ExerciseResult(BaseModel):
    id: str
    status: Status
    score: float
    max_score: float
    message: str = ""
    checks: list[CheckResult] = Field(default_factory=list)
    output: str = ""
    sweep: Sweep | None = Field(
        None, description="The function against its reference, when a public check failed."
    )

    @property
    def points_label(self) -> str:
        """``score / max_score`` as people read it; a grader error's 0 is no score."""
        earned = "not graded" if self.status is Status.GRADER_ERROR else format_points(self.score)
        return f"{earned} / {format_points(self.max_score)}"

    def public_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "score": self.score,
            "max_score": self.max_score,
            "message": self.message,
            "checks": [c.public_dict() for c in self.checks],
        }


class LabResult(BaseModel):
    lab: str
    exercises: list[ExerciseResult]
    notes: list[str] = Field(default_factory=list, description="Submission-wide remarks.")
    hidden_checks_run: bool = True
    isolation: IsolationLevel | None = Field(
        None,
        description="How the worker was isolated (bubblewrap or limits-only); None if unknown.",
    )

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises), 6)

    @property
    def max_score(self) -> float:
        return round(sum(e.max_score for e in self.exercises), 6)

    @property
    def all_passed(self) -> bool:
        return all(e.status is Status.PASSED for e in self.exercises)

    @property
    def not_graded(self) -> list[ExerciseResult]:
        """The exercises that the grader failed on: their scores are not grades."""
        return [e for e in self.exercises if e.status is Status.GRADER_ERROR]

    @property
    def complete(self) -> bool:
        """Whether every exercise was graded, so that the score is the student's grade."""
        return not self.not_graded

    def public_dict(self) -> dict[str, Any]:
        """Exactly the object COURSE.md specifies for ``grade check --json``."""
        return {
            "lab": self.lab,
            "score": self.score,
            "max_score": self.max_score,
            "exercises": [e.public_dict() for e in self.exercises],
        }


# When checks end differently, the exercise takes the first of these statuses that occurred.
_PRECEDENCE = [Status.TIMEOUT, Status.ERROR, Status.FAILED]


def score_exercise(
    exercise_id: str, points: float, checks: list[CheckResult], output: str = ""
) -> ExerciseResult:
    """Partial credit: the exercise's points times the earned share of its checks' weights.

    A stub that raises ``NotImplementedError`` in every check is ``not_implemented`` (zero).
    A check that crashed makes the exercise ``grader_error``: no share of it is a grade, so it
    and each of its checks score 0, and its message is the first crashed check's. Each check
    records its own share of the points (``score`` of ``max_score``).
    """
    total = sum(c.weight for c in checks)
    passed = sum(c.weight * c.earned for c in checks)
    score = round(points * passed / total, 6) if total else 0.0
    statuses = {c.status for c in checks}
    ungraded = Status.GRADER_ERROR in statuses
    checks = [
        c.model_copy(
            update={
                "score": 0.0 if ungraded else _points(points, c.weight * c.earned, total),
                "max_score": _points(points, c.weight, total),
            }
        )
        for c in checks
    ]
    failures = [c for c in checks if c.status is not Status.PASSED]
    if ungraded:
        status, score = Status.GRADER_ERROR, 0.0
        # Crashed checks of one exercise mostly share their cause: the first one says it.
        failures = [c for c in failures if c.status is Status.GRADER_ERROR][:1]
    elif statuses == {Status.NOT_IMPLEMENTED}:
        status, score = Status.NOT_IMPLEMENTED, 0.0
        failures = failures[:1]
    elif statuses <= {Status.PASSED}:
        status = Status.PASSED
    else:
        failing = statuses - {Status.PASSED}
        status = next((s for s in _PRECEDENCE if s in failing), Status.FAILED)
    message = "; ".join(f"{c.label}: {c.message}" for c in failures) or "all checks passed"
    return ExerciseResult(
        id=exercise_id,
        status=status,
        score=score,
        max_score=points,
        message=message,
        checks=checks,
        output=output,
    )


def _points(points: float, weight: float, total: float) -> float:
    """The share ``weight / total`` of ``points``, exact: COURSE.md's JSON rounds nothing."""
    return points * weight / total if total else 0.0


def zero_result(exercise_id: str, points: float, status: Status, message: str) -> ExerciseResult:
    """An exercise that could not be graded at all (missing, forbidden, ...)."""
    return ExerciseResult(
        id=exercise_id, status=status, score=0.0, max_score=points, message=message
    )
