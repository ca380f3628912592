"""When a submission was handed in, and what handing it in late cost: the data that a batch's
records, its feedback pages and the course grades share (the rules are in
``deepgrade.staff.deadlines``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class TimeSource(StrEnum):
    """Where a submission's time was read, best first."""

    NBGRADER = "nbgrader timestamp"
    ARCHIVE = "archive member time"
    MTIME = "file modification time"
    UNKNOWN = "unknown"


class SubmissionTime(BaseModel):
    """A submission's time and where it came from; ``problem`` says why a better source was
    passed over (an unreadable ``timestamp.txt``), for staff to check."""

    model_config = ConfigDict(frozen=True)

    at: AwareDatetime | None = None
    source: TimeSource = TimeSource.UNKNOWN
    problem: str = ""

    def when(self) -> str:
        """``2025-10-06 21:12 UTC (nbgrader timestamp)``, or ``unknown``."""
        return f"{self.at:%Y-%m-%d %H:%M %Z} ({self.source.value})" if self.at else "unknown"

    def describe(self) -> str:
        """:meth:`when` and, for staff, the problem if any (it may quote the student's file)."""
        return f"{self.when()}; {self.problem}" if self.problem else self.when()


class Penalty(BaseModel):
    """What lateness cost one student on one lab: ``percent`` of the raw score, and why."""

    model_config = ConfigDict(frozen=True)

    deadline: datetime = Field(description="The student's deadline, extensions included.")
    submitted: SubmissionTime
    percent: float = Field(ge=0, le=100)
    reason: str = Field(description='"on time", "2 days late, 10 %", "after the cut-off".')

    def points(self, raw: float) -> float:
        """The points taken off a raw score."""
        return raw * self.percent / 100

    def final(self, raw: float) -> float:
        return raw - self.points(raw)
