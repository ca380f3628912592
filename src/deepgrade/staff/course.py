"""The course configuration: who the students are, how they team up and how grades combine.

One TOML file (see ``docs/grades.md``) read with pydantic-settings; every path in it is
relative to the file. The configuration itself holds no student data: the roster and the
other CSV files are read when grades are computed, so that editing them needs no reload.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from deepgrade.errors import CourseError, UsageError

ROSTER_COLUMNS = ("id", "first_name", "last_name", "email")
TEAM_SIZES = (2, 3)
# The course.csv columns after the labs', which the LMS exports may rename.
GRADE_COLUMNS = ("G1", "G2", "course")
# Weights are typed as decimals in a TOML file: 0.1 + 0.2 must still count as 0.3.
_WEIGHT_TOLERANCE = 1e-9


class Student(BaseModel):
    """One roster row. The optional columns only matter to the LMS exports."""

    model_config = ConfigDict(frozen=True)

    id: str
    first_name: str
    last_name: str
    email: str
    section: str = ""
    sis_login_id: str = ""
    canvas_id: str = ""


class LatePolicy(BaseModel):
    """What handing a lab in late costs: ``percent`` of its score per day (or hour) started
    after the student's deadline, ``cap`` percent at most, and all of it after ``cutoff`` days."""

    model_config = ConfigDict(extra="forbid")

    percent: float = Field(ge=0, le=100, description="% of the score per day or hour started.")
    per: Literal["day", "hour"] = "day"
    cap: float = Field(100.0, ge=0, le=100, description="The most lateness costs, in %.")
    cutoff: float | None = Field(
        None, gt=0, description="Days after the student's deadline after which the score is 0."
    )


# A student's extension: a number of days added to the lab's deadline, or a new deadline (a
# TOML date-time: a number must never pass for a time).
Extension = Annotated[
    Annotated[float, Field(gt=0)] | Annotated[datetime, Strict()],
    Field(union_mode="left_to_right"),
]


class LabEntry(BaseModel):
    """A lab counted in G1: its weight, the ``grade batch`` output folder of its results and,
    optionally, its deadline with the late policy and the students' extensions."""

    model_config = ConfigDict(extra="forbid")

    weight: float = Field(ge=0, le=1)
    results: Path
    deadline: datetime | None = Field(None, description="Naive: in the course's timezone.")
    late: LatePolicy | None = Field(None, description="This lab's policy; the course's if unset.")
    extensions: dict[str, Extension] = Field(
        default_factory=dict, description="Student id -> a new deadline or days added."
    )


class ReportConfig(BaseModel):
    """The team lab report, whose grade adds hand-graded parts to the autograded score."""

    model_config = ConfigDict(extra="forbid")

    lab: str = "lab7"
    manual: Path | None = Field(None, description="CSV of hand-graded scores: id, part, score.")
    gradebook: Path | None = Field(
        None, description="nbgrader course folder whose gradebook holds the manual scores."
    )
    submitters: dict[str, str] = Field(
        default_factory=dict,
        description="Team id -> the member whose submission counts, when several submitted.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ReportConfig:
        if self.manual is not None and self.gradebook is not None:
            raise ValueError("give the manual scores either as a CSV (manual) or a gradebook")
        return self


class Formula(BaseModel):
    """The course grade as a weighted sum of G1 (lab reports) and G2 (written exam)."""

    model_config = ConfigDict(extra="forbid")

    g1: float = Field(0.5, ge=0, le=1)
    g2: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> Formula:
        if not math.isclose(self.g1 + self.g2, 1.0, abs_tol=_WEIGHT_TOLERANCE):
            raise ValueError(f"the weights of G1 and G2 sum to {self.g1 + self.g2:g}, not 1")
        return self


# The LMS files' grade items unless lms.columns says otherwise: the course grade alone, since
# Moodle's course total and Canvas's total grade add up every imported item, so that G1 next to
# the labs it is made of (or the course grade next to G1 and G2) would count them twice.
DEFAULT_LMS_COLUMNS = {"course": "Course grade"}


class LmsConfig(BaseModel):
    """What the Moodle and Canvas files call each exported column."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_LMS_COLUMNS),
        description="course.csv column (a lab id, G1, G2, course) -> grade item name; only "
        "these columns are exported, in this order (the course grade alone by default).",
    )


class CourseConfig(BaseSettings):
    """A course: roster, teams, labs and their weights, the team report, G2 and the formula.

    Built from the TOML file ``file`` (keyword arguments override the file's values).
    """

    model_config = SettingsConfigDict(extra="forbid")

    file: Path = Field(description="The TOML file; relative paths are resolved against it.")
    scale: float = Field(20.0, gt=0, description="Every grade is out of this.")
    decimals: int = Field(2, ge=0, le=6, description="Decimals kept in exported grades.")
    roster: Path
    teams: dict[str, list[str]] = Field(default_factory=dict)
    labs: dict[str, LabEntry]
    report: ReportConfig = Field(default_factory=ReportConfig)
    exam: Path | None = Field(None, description="CSV of G2 grades: id, grade.")
    formula: Formula = Field(default_factory=Formula)
    autograder: Path | None = Field(
        None, description="Folder of lab definitions; the bundled one when unset."
    )
    lms: LmsConfig = Field(default_factory=LmsConfig)
    timezone: str = Field("UTC", description="Where naive deadlines and zip times are read.")
    late: LatePolicy | None = Field(None, description="The labs' late policy, unless their own.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file to read is itself a keyword argument; the environment is left out so that
        # a grade never depends on a variable set in someone's shell.
        file = (
            init_settings.init_kwargs.get("file")
            if isinstance(init_settings, InitSettingsSource)
            else None
        )
        if file is None:
            return (init_settings,)
        return (init_settings, TomlConfigSettingsSource(settings_cls, toml_file=Path(file)))

    @field_validator("teams")
    @classmethod
    def _check_teams(cls, teams: dict[str, list[str]]) -> dict[str, list[str]]:
        problems = [
            f"team {team} has {len(members)} members, not 2 or 3"
            for team, members in teams.items()
            if len(members) not in TEAM_SIZES
        ]
        problems += [
            f"team {team} names {student} twice"
            for team, members in teams.items()
            for student, count in Counter(members).items()
            if count > 1
        ]
        owners: dict[str, list[str]] = {}
        for team, members in teams.items():
            for student in dict.fromkeys(members):
                owners.setdefault(student, []).append(team)
        problems += [
            f"student {student} is in {len(names)} teams ({', '.join(names)})"
            for student, names in owners.items()
            if len(names) > 1
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return teams

    @field_validator("labs")
    @classmethod
    def _check_lab_weights(cls, labs: dict[str, LabEntry]) -> dict[str, LabEntry]:
        if not labs:
            raise ValueError("name at least one lab")
        total = sum(entry.weight for entry in labs.values())
        if not math.isclose(total, 1.0, abs_tol=_WEIGHT_TOLERANCE):
            weights = ", ".join(f"{lab} {entry.weight:g}" for lab, entry in labs.items())
            raise ValueError(f"the lab weights ({weights}) sum to {total:g}, not 1")
        return labs

    @model_validator(mode="after")
    def _check_names(self) -> CourseConfig:
        """The names used across sections: the report lab, its submitters, the LMS columns."""
        problems = []
        if self.report.lab not in self.labs:
            problems.append(
                f"the report lab {self.report.lab} is not among the labs "
                f"({', '.join(self.labs)}); set report.lab"
            )
        problems += [
            f"report.submitters: {student} is not a member of team {team}"
            for team, student in self.report.submitters.items()
            if student not in self.teams.get(team, [])
        ]
        columns = [*self.labs, *GRADE_COLUMNS]
        strange = [name for name in self.lms.columns if name not in columns]
        if strange:
            problems.append(
                f"lms.columns names unknown columns {', '.join(strange)} "
                f"(known: {', '.join(columns)})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r} (an IANA name: Europe/Paris, UTC)"
            ) from None
        return name

    @model_validator(mode="after")
    def _check_deadlines(self) -> CourseConfig:
        """Naive times read in the course's timezone; a policy and extensions only with a
        deadline, and no extension that moves a deadline earlier."""
        problems = []
        for lab, entry in self.labs.items():
            if entry.deadline is None:
                if entry.late is not None or entry.extensions:
                    problems.append(f"labs.{lab}: late or extensions set, but no deadline")
                continue
            entry.deadline = self._aware(entry.deadline)
            if entry.late is None and self.late is None:
                problems.append(
                    f"labs.{lab}: a deadline but no late policy (set late or labs.{lab}.late)"
                )
            for student, extension in entry.extensions.items():
                if isinstance(extension, datetime):
                    entry.extensions[student] = extension = self._aware(extension)
                    if extension < entry.deadline:
                        problems.append(
                            f"labs.{lab}.extensions.{student}: {extension:%Y-%m-%d %H:%M} "
                            f"is before the deadline {entry.deadline:%Y-%m-%d %H:%M}"
                        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _aware(self, moment: datetime) -> datetime:
        return (
            moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(self.timezone))
        )

    @model_validator(mode="after")
    def _resolve_paths(self) -> CourseConfig:
        base = self.file.parent
        self.roster = base / self.roster
        self.exam = base / self.exam if self.exam is not None else None
        self.autograder = base / self.autograder if self.autograder is not None else None
        for entry in self.labs.values():
            entry.results = base / entry.results
        if self.report.manual is not None:
            self.report.manual = base / self.report.manual
        if self.report.gradebook is not None:
            self.report.gradebook = base / self.report.gradebook
        return self

    def team_of(self, student: str) -> str | None:
        """The id of the team ``student`` belongs to, or ``None``."""
        return next((team for team, members in self.teams.items() if student in members), None)

    def deadline_of(self, lab: str, student: str) -> datetime | None:
        """``student``'s deadline for ``lab``, their extension included; None without one."""
        entry = self.labs.get(lab)
        if entry is None or entry.deadline is None:
            return None
        extension = entry.extensions.get(student)
        if isinstance(extension, datetime):
            return extension
        return entry.deadline + timedelta(days=extension or 0)

    def late_policy(self, lab: str) -> LatePolicy | None:
        entry = self.labs.get(lab)
        return (entry.late or self.late) if entry is not None and entry.deadline else None

    def read_roster(self) -> dict[str, Student]:
        """The roster by student id, checked: unique ids, and every team member listed."""
        problems: list[str] = []
        students: dict[str, Student] = {}
        duplicates: list[str] = []
        for line, row in read_csv_rows(self.roster, ROSTER_COLUMNS):
            if not row["id"]:
                problems.append(f"{self.roster}, line {line}: no id")
            elif row["id"] in students:
                duplicates.append(row["id"])
            else:
                fields = {name: row.get(name, "") for name in Student.model_fields}
                students[row["id"]] = Student.model_validate(fields)
        if duplicates:
            problems.append(
                f"{self.roster}: duplicate ids {', '.join(sorted(dict.fromkeys(duplicates)))}"
            )
        strangers = [
            f"{student} (team {team})"
            for team, members in self.teams.items()
            for student in members
            if student not in students
        ]
        if strangers:
            problems.append(f"team members missing from the roster: {', '.join(strangers)}")
        unknown = [
            f"{student} ({lab})"
            for lab, entry in self.labs.items()
            for student in entry.extensions
            if student not in students
        ]
        if unknown:
            problems.append(
                f"extensions for students missing from the roster: {', '.join(unknown)}"
            )
        raise_problems(problems)
        return students


def load_course(path: Path) -> CourseConfig:
    """Read and check the course configuration in the TOML file ``path``."""
    if not path.is_file():
        raise UsageError(f"no course configuration at {path}")
    try:
        return CourseConfig(file=path.resolve())
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        problems = [_describe(error["loc"], error["msg"]) for error in exc.errors()]
    raise CourseError(list_problems(problems, header=f"{path}:"))


def _describe(location: tuple[int | str, ...], message: str) -> str:
    text = message.removeprefix("Value error, ")
    return f"{'.'.join(map(str, location))}: {text}" if location else text


def list_problems(problems: Iterable[str], *, header: str = "") -> str:
    """One message listing every problem, one per line, so all can be fixed in one go."""
    return "\n".join([*([header] if header else []), *(f"  - {p}" for p in problems)]).strip()


def raise_problems(problems: list[str]) -> None:
    """Raise one :class:`CourseError` listing ``problems``, if there is any."""
    if problems:
        raise CourseError(list_problems(problems, header="the course data is inconsistent:"))


def read_csv_rows(path: Path, required: Iterable[str]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV file with a header, as (line number, stripped cells by column)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            missing = [name for name in required if name not in (reader.fieldnames or [])]
            if missing:
                raise CourseError(f"{path}: missing column(s) {', '.join(missing)}")
            return [
                (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None})
                for row in reader
                if any((v or "").strip() for v in row.values() if isinstance(v, str))
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CourseError(f"cannot read {path}: {exc}") from None
