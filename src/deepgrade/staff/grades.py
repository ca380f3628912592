"""Course grades: labs rescaled, the team report, G1, G2, the course grade, and their exports.

Every grade is on the course's scale (20 by default). A lab's grade is its score over its
maximum; the team report adds the hand-graded parts to both. G1 is the weighted mean of the
labs, the course grade the configured formula of G1 and G2. Sums are made with unrounded
grades; each grade is rounded half up to ``decimals`` decimals once, when it is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pydantic import BaseModel, Field

from deepgrade.model.deadlines import Penalty
from deepgrade.model.records import (
    RecordStatus,
    SubmissionRecord,
    csv_text,
    read_records,
    write_atomic,
)
from deepgrade.model.spec import LabSpec, course_roots, find_lab
from deepgrade.staff.course import (
    DEFAULT_LMS_COLUMNS,
    GRADE_COLUMNS,
    CourseConfig,
    Student,
    raise_problems,
    read_csv_rows,
)
from deepgrade.staff.deadlines import latest, penalty

COURSE_FILE = "course.csv"
MOODLE_FILE = "moodle.csv"
CANVAS_FILE = "canvas.csv"
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_STUDENT_COLUMNS = ("ID number", "Email address", "First name", "Last name")

# A team's hand-graded scores: manual part id -> score, None while not graded yet.
ManualScores = dict[str, float | None]


class StudentGrades(BaseModel):
    """One student's line of the course table; ``None`` marks a grade that cannot be given."""

    student: Student
    team: str | None
    labs: dict[str, float | None]
    g1: float | None
    g2: float | None
    course: float | None
    notes: list[str] = Field(
        default_factory=list, description="Why a grade is zero or missing, for staff to check."
    )
    raw: dict[str, float | None] = Field(
        default_factory=dict, description="Labs with a deadline: the grade before the penalty."
    )
    late: dict[str, Penalty] = Field(
        default_factory=dict, description="Labs with a deadline: what lateness cost, and why."
    )

    def grade(self, column: str) -> float | None:
        """The grade in a course.csv column: a lab id, ``G1``, ``G2`` or ``course``."""
        named = {"G1": self.g1, "G2": self.g2, "course": self.course}
        return named[column] if column in named else self.labs[column]


class CourseGrades(BaseModel):
    """The course table: one row per roster student, in roster order."""

    scale: float
    decimals: int
    labs: list[str]
    students: list[StudentGrades]
    deadlines: list[str] = Field(
        default_factory=list, description="The labs with a deadline, whose penalties show."
    )

    @property
    def columns(self) -> list[str]:
        return [*self.labs, *GRADE_COLUMNS]

    def mean(self, column: str) -> float | None:
        """The class mean of a column over the students who have that grade."""
        values = [v for row in self.students if (v := row.grade(column)) is not None]
        return sum(values) / len(values) if values else None

    def format(self, value: float | None) -> str:
        return "" if value is None else f"{value:.{self.decimals}f}"


def compute_grades(config: CourseConfig) -> CourseGrades:
    """Combine the labs' results, the report's manual scores and the exam into grades.

    Raises :class:`~deepgrade.errors.CourseError` listing every inconsistency found.
    """
    roster = config.read_roster()
    problems: list[str] = []
    records = {
        lab: _lab_records(lab, entry.results, roster, problems)
        for lab, entry in config.labs.items()
    }
    report = config.report.lab
    spec = _lab_spec(config, report)
    submissions = _team_submissions(config, records[report], problems)
    manual = _manual_scores(config, spec, roster, problems)
    exam = _exam_grades(config, roster, problems) if config.exam is not None else None
    raise_problems(problems)

    rows = []
    for student in roster.values():
        notes: list[str] = []
        team = config.team_of(student.id)
        exact: dict[str, float | None] = {}
        raw: dict[str, float | None] = {}
        late: dict[str, Penalty] = {}
        for lab in config.labs:
            if lab == report:
                record = submissions.get(team) if team is not None else None
                raw[lab] = _report_grade(config, spec, team, submissions, manual, notes)
            else:
                record = records[lab].get(student.id)
                raw[lab] = _lab_grade(config, lab, record, notes)
            grade = exact[lab] = raw[lab]
            cost = penalty(config, lab, student.id, record.submitted) if record else None
            if cost is not None:
                late[lab] = cost
                exact[lab] = cost.final(grade) if grade is not None else None
                if cost.submitted.problem or cost.submitted.at is None:
                    notes.append(f"{lab}: submission time {cost.submitted.describe()}")
        g1 = _weighted_mean(exact, {lab: entry.weight for lab, entry in config.labs.items()})
        g2 = exam.get(student.id) if exam is not None else None
        if exam is not None and g2 is None:
            notes.append("G2: no exam grade")
        course = (
            config.formula.g1 * g1 + config.formula.g2 * g2
            if g1 is not None and g2 is not None
            else None
        )
        rows.append(
            StudentGrades(
                student=student,
                team=team,
                labs={lab: _round(value, config.decimals) for lab, value in exact.items()},
                g1=_round(g1, config.decimals),
                g2=_round(g2, config.decimals),
                course=_round(course, config.decimals),
                notes=notes,
                raw={lab: _round(raw[lab], config.decimals) for lab in late},
                late=late,
            )
        )
    return CourseGrades(
        scale=config.scale,
        decimals=config.decimals,
        labs=list(config.labs),
        students=rows,
        deadlines=[lab for lab in config.labs if config.late_policy(lab) is not None],
    )


def _weighted_mean(values: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """The weighted mean (the weights sum to 1), or ``None`` if a value is missing."""
    total = 0.0
    for key, value in values.items():
        if value is None:
            return None
        total += weights[key] * value
    return total


def _round(value: float | None, decimals: int) -> float | None:
    if value is None:
        return None
    # Through the shortest decimal text of the float, so that 12.345 rounds to 12.35.
    step = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))


def _lab_records(
    lab: str, results: Path, roster: dict[str, Student], problems: list[str]
) -> dict[str, SubmissionRecord]:
    if not results.is_dir():
        problems.append(f"{lab}: no results folder {results} (run grade batch --out there)")
        return {}
    records = {}
    for record in read_records(results):
        if record.lab != lab:
            problems.append(f"{lab}: {results} holds a result of {record.lab} ({record.student})")
        elif record.student not in roster:
            problems.append(
                f"{lab}: student {record.student} has a result but is not in the roster"
            )
        else:
            records[record.student] = record
    return records


def _lab_spec(config: CourseConfig, lab: str) -> LabSpec:
    return find_lab(lab, course=course_roots(config.autograder, beside=config.file.parent))


def _scaled(earned: float, maximum: float, scale: float) -> float:
    return scale * earned / maximum if maximum > 0 else 0.0


def _lab_grade(
    config: CourseConfig, lab: str, record: SubmissionRecord | None, notes: list[str]
) -> float | None:
    if record is None:
        notes.append(f"{lab}: not submitted")
        return 0.0
    if record.status is RecordStatus.GRADER_ERROR:
        notes.append(f"{lab}: the grader failed; run grade batch again")
        return None
    if record.status is RecordStatus.SUBMISSION_ERROR:
        notes.append(f"{lab}: unreadable submission ({record.error})")
    return _scaled(record.score, record.max_score, config.scale)


def _team_submissions(
    config: CourseConfig, records: dict[str, SubmissionRecord], problems: list[str]
) -> dict[str, SubmissionRecord]:
    """The submission that counts for each team: its only one, the one of the member that
    ``report.submitters`` names, or else the team's latest (by the batch's submission times;
    where some are unknown, the same file sent by several members)."""
    by_team: dict[str, list[SubmissionRecord]] = {}
    for student, record in records.items():
        team = config.team_of(student)
        if team is None:
            problems.append(
                f"{config.report.lab}: {student} submitted the team report but is in no team"
            )
        else:
            by_team.setdefault(team, []).append(record)
    chosen = {}
    for team, found in by_team.items():
        submitter = config.report.submitters.get(team)
        if submitter is not None:
            pick = [record for record in found if record.student == submitter]
            if not pick:
                problems.append(
                    f"{config.report.lab}: report.submitters names {submitter} for team {team}, "
                    "who did not submit"
                )
                continue
            chosen[team] = pick[0]
        elif all(record.submitted and record.submitted.at for record in found):
            chosen[team] = latest(found)
        elif len({record.content_hash for record in found}) == 1:
            chosen[team] = found[0]
        else:
            names = ", ".join(record.student for record in found)
            problems.append(
                f"{config.report.lab}: team {team} submitted different reports ({names}); "
                f"name the one that counts in report.submitters"
            )
    return chosen


def _report_grade(
    config: CourseConfig,
    spec: LabSpec,
    team: str | None,
    submissions: dict[str, SubmissionRecord],
    manual: dict[str, ManualScores],
    notes: list[str],
) -> float | None:
    lab = spec.id
    if team is None:
        notes.append(f"{lab}: in no team")
        return 0.0
    record = submissions.get(team)
    auto, auto_max = 0.0, spec.max_score
    if record is None:
        notes.append(f"{lab}: team {team} did not submit")
    elif record.status is RecordStatus.GRADER_ERROR:
        notes.append(f"{lab}: the grader failed on team {team}'s report; run grade batch again")
        return None
    else:
        if record.status is RecordStatus.SUBMISSION_ERROR:
            notes.append(f"{lab}: team {team}'s report is unreadable ({record.error})")
        auto, auto_max = record.score, record.max_score
    scores = manual.get(team, {})
    ungraded = [part.id for part in spec.manual if scores.get(part.id) is None]
    if ungraded:
        notes.append(f"{lab}: not graded by hand yet: {', '.join(ungraded)}")
    earned = auto + sum(score for score in scores.values() if score is not None)
    return _scaled(earned, auto_max + sum(part.points for part in spec.manual), config.scale)


def _manual_scores(
    config: CourseConfig, spec: LabSpec, roster: dict[str, Student], problems: list[str]
) -> dict[str, ManualScores]:
    """Hand-graded scores by team, from the CSV or from nbgrader's gradebook."""
    entries: list[tuple[str, str, str, float | None]]  # (where, student or team, part, score)
    if config.report.manual is not None:
        entries = list(_manual_csv_entries(config.report.manual, problems))
    elif config.report.gradebook is not None:
        from deepgrade.staff.gradebook import read_manual_scores

        by_student = read_manual_scores(config.report.gradebook, spec.folder.name)
        entries = [
            (f"gradebook {config.report.gradebook}", student, part, score)
            for student, parts in by_student.items()
            for part, score in parts.items()
        ]
    else:
        return {}
    points = {part.id: part.points for part in spec.manual}
    scores: dict[str, ManualScores] = {}
    for where, who, name, score in entries:
        team = who if who in config.teams else config.team_of(who)
        part = _manual_part(spec, name)
        if team is None:
            known = "a student in no team" if who in roster else "neither a team nor a student"
            problems.append(f"{where}: {who} is {known}")
        elif part is None:
            known = ", ".join(points)
            problems.append(f"{where}: {spec.id} has no manual part {name!r} (it has {known})")
        elif score is not None and not 0 <= score <= points[part]:
            problems.append(f"{where}: {who} {part} = {score:g}, outside [0, {points[part]:g}]")
        else:
            team_scores = scores.setdefault(team, {})
            previous = team_scores.get(part)
            if score is None:
                team_scores.setdefault(part, None)
            elif previous is not None and previous != score:
                problems.append(f"{where}: a second score for team {team}'s {part}")
            else:
                team_scores[part] = score
    return scores


def _manual_csv_entries(
    path: Path, problems: list[str]
) -> Iterator[tuple[str, str, str, float | None]]:
    for line, row in read_csv_rows(path, ("id", "part", "score")):
        where = f"{path}, line {line}"
        try:
            yield where, row["id"], row["part"], _number(row["score"])
        except ValueError as exc:
            problems.append(f"{where}: {exc}")


def _manual_part(spec: LabSpec, name: str) -> str | None:
    """The manual part a name means: its id (``lab7.figures``), the same with an underscore
    as nbgrader grade ids may have it (``lab7_figures``) or its short name (``figures``)."""
    for part in spec.manual:
        short = part.id.split(".", 1)[-1]
        if name in (part.id, part.id.replace(".", "_"), short):
            return part.id
    return None


def _number(text: str) -> float | None:
    """A grade cell: a number (a decimal comma is accepted), ``None`` when blank."""
    if not text:
        return None
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _exam_grades(
    config: CourseConfig, roster: dict[str, Student], problems: list[str]
) -> dict[str, float | None]:
    assert config.exam is not None
    grades: dict[str, float | None] = {}
    for line, row in read_csv_rows(config.exam, ("id", "grade")):
        where = f"{config.exam}, line {line}"
        try:
            grade = _number(row["grade"])
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if row["id"] not in roster:
            problems.append(f"{where}: exam grade for {row['id']}, who is not in the roster")
        elif row["id"] in grades:
            problems.append(f"{where}: a second exam grade for {row['id']}")
        elif grade is not None and not 0 <= grade <= config.scale:
            problems.append(f"{where}: {grade:g} is outside [0, {config.scale:g}]")
        else:
            grades[row["id"]] = grade
    return grades


def write_exports(
    grades: CourseGrades, out: Path, *, lms_columns: dict[str, str] | None = None
) -> list[Path]:
    """Write ``course.csv`` and the Moodle and Canvas grade-import files into ``out``.

    ``lms_columns`` maps course.csv columns to grade item names in the LMS files, which hold
    only those columns, in its order (the course configuration's ``lms.columns``); by default
    the course grade alone (``DEFAULT_LMS_COLUMNS``), which no LMS total counts twice.
    """
    items = lms_columns or DEFAULT_LMS_COLUMNS
    files = {
        COURSE_FILE: _course_rows(grades),
        MOODLE_FILE: _moodle_rows(grades, items),
        CANVAS_FILE: _canvas_rows(grades, items),
    }
    for name, rows in files.items():
        write_atomic(out / name, csv_text(rows))
    return [out / name for name in files]


def _course_rows(grades: CourseGrades) -> Iterator[list[str]]:
    """Each lab with a deadline adds its raw grade, the penalty and why before the grades."""
    late = [f"{lab}_{part}" for lab in grades.deadlines for part in ("raw", "penalty", "late")]
    yield [
        "id",
        "last_name",
        "first_name",
        "email",
        "team",
        *late,
        *grades.columns,
        "notes",
    ]
    for row in grades.students:
        person = row.student
        yield [
            person.id,
            person.last_name,
            person.first_name,
            person.email,
            row.team or "",
            *(cell for lab in grades.deadlines for cell in _late_cells(grades, row, lab)),
            *(grades.format(row.grade(column)) for column in grades.columns),
            "; ".join(row.notes),
        ]


def _late_cells(grades: CourseGrades, row: StudentGrades, lab: str) -> list[str]:
    cost, raw = row.late.get(lab), row.raw.get(lab)
    if cost is None or raw is None:
        return ["", "", ""]
    return [grades.format(raw), grades.format(cost.points(raw)), cost.reason]


def _moodle_rows(grades: CourseGrades, items: dict[str, str]) -> Iterator[list[str]]:
    """Moodle's "Import grades from CSV": users are matched on one column chosen at import
    (email address or ID number here); a blank cell is no grade."""
    yield [*MOODLE_STUDENT_COLUMNS, *items.values()]
    for row in grades.students:
        person = row.student
        yield [
            person.id,
            person.email,
            person.first_name,
            person.last_name,
            *(grades.format(row.grade(column)) for column in items),
        ]


def _canvas_rows(grades: CourseGrades, items: dict[str, str]) -> Iterator[list[str]]:
    """Canvas's gradebook import: the five student columns of its own export, then one column
    per assignment ("Name (id)" updates an existing one, a bare name creates one), and a
    "Points Possible" row. Students are matched on ID, then SIS User ID, SIS Login ID, name."""
    yield [*CANVAS_STUDENT_COLUMNS, *items.values()]
    blanks = [""] * (len(CANVAS_STUDENT_COLUMNS) - 1)
    yield ["Points Possible", *blanks, *(grades.format(grades.scale) for _ in items)]
    for row in grades.students:
        person = row.student
        yield [
            f"{person.last_name}, {person.first_name}",
            person.canvas_id,
            person.id,
            person.sis_login_id,
            person.section,
            *(grades.format(row.grade(column)) for column in items),
        ]
