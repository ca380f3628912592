"""Course configuration, G1 / G2 / course grades and the LMS exports, on a small made-up class.

No grading runs here: result records are written from LabResult objects built by hand.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.errors import CourseError
from deepgrade.model.records import RecordStatus, SubmissionRecord, record_path, write_record
from deepgrade.model.results import ExerciseResult, LabResult, Status
from deepgrade.model.spec import load_lab
from deepgrade.staff.course import load_course
from deepgrade.staff.grades import CourseGrades, compute_grades, write_exports
from tests.helpers import ROOT

pytestmark = pytest.mark.timeout(30)

ROSTER = """id,first_name,last_name,email,section,sis_login_id,canvas_id
s01,Ada,Lovelace,ada@uni.fr,A,alovelace,101
s02,Alan,Turing,alan@uni.fr,A,aturing,102
s03,Grace,Hopper,grace@uni.fr,B,ghopper,
s04,Emmy,Noether,emmy@uni.fr,B,,
s05,Kurt,Godel,kurt@uni.fr,B,,
s06,Sofia,Kovalevskaya,sofia@uni.fr,A,,
"""
TEAMS = """[teams]
t1 = ["s01", "s02"]
t2 = ["s03", "s04", "s05"]
"""
LABS = """[labs.lab2]
weight = 0.4
results = "out/lab2"

[labs.lab7]
weight = 0.6
results = "out/lab7"
"""
EXAM = "id,grade\ns01,12\ns02,16\ns03,\ns04,10\ns05,8\ns06,20\n"
# Team t1 fully graded by hand (8 / 12); team t2 half graded, by short and nbgrader-style ids.
MANUAL = """id,part,score
t1,lab7.figures,2
t1,lab7.q_generalisation,3
s02,q_capacity,2
t1,lab7_q_limitations,1
t2,figures,1.5
s05,q_generalisation,4
t2,q_capacity,
"""


def _record(
    student: str,
    lab: str,
    score: float,
    max_score: float,
    status: RecordStatus = RecordStatus.GRADED,
    content: str = "c0",
) -> SubmissionRecord:
    graded = status is RecordStatus.GRADED
    result = LabResult(
        lab=lab,
        exercises=[
            ExerciseResult(
                id=f"{lab}.part",
                status=Status.PASSED if score == max_score else Status.FAILED,
                score=score,
                max_score=max_score,
            )
        ],
    )
    return SubmissionRecord(
        student=student,
        lab=lab,
        source=f"{student}/{lab}.ipynb",
        content_hash=content,
        checks_version="v1",
        status=status,
        error="" if graded else "it broke",
        result=result if graded else None,
        max_score=max_score,
    )


def _default_records() -> list[SubmissionRecord]:
    return [
        _record("s01", "lab2", 7, 10),
        _record("s03", "lab2", 9.5, 10),
        _record("s04", "lab2", 0, 10, RecordStatus.SUBMISSION_ERROR),
        _record("s05", "lab2", 0, 10, RecordStatus.GRADER_ERROR),
        _record("s06", "lab2", 7, 9),
        _record("s01", "lab7", 6, 8),
        _record("s04", "lab7", 8, 8),
    ]


def _course(
    tmp_path: Path,
    *,
    roster: str = ROSTER,
    teams: str = TEAMS,
    labs: str = LABS,
    exam: str = EXAM,
    manual: str = MANUAL,
    extra: str = "",
    report: str = 'manual = "manual.csv"',
    records: list[SubmissionRecord] | None = None,
) -> Path:
    """Write a course folder (roster, exam, manual scores, batch results) and its TOML."""
    (tmp_path / "roster.csv").write_text(roster, encoding="utf-8")
    (tmp_path / "exam.csv").write_text(exam, encoding="utf-8")
    (tmp_path / "manual.csv").write_text(manual, encoding="utf-8")
    for record in _default_records() if records is None else records:
        out = tmp_path / "out" / record.lab
        write_record(record, record_path(out, record.student))
    for lab in ("lab2", "lab7"):
        (tmp_path / "out" / lab / "results").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "course.toml"
    text = f'roster = "roster.csv"\nexam = "exam.csv"\n{extra}\n{teams}\n{labs}\n'
    text += f"[report]\n{report}\n"
    path.write_text(text, encoding="utf-8")
    return path


def _grades(tmp_path: Path, **kwargs: object) -> CourseGrades:
    return compute_grades(load_course(_course(tmp_path, **kwargs)))  # type: ignore[arg-type]


def _by_id(grades: CourseGrades) -> dict[str, dict[str, float | None]]:
    return {
        row.student.id: {column: row.grade(column) for column in grades.columns}
        for row in grades.students
    }


def test_configuration_defaults_paths_and_teams(tmp_path: Path) -> None:
    config = load_course(_course(tmp_path))
    assert config.scale == 20
    assert (config.formula.g1, config.formula.g2) == (0.5, 0.5)
    assert config.report.lab == "lab7"
    assert config.roster == tmp_path.resolve() / "roster.csv"
    assert config.labs["lab2"].results == tmp_path.resolve() / "out" / "lab2"
    assert config.report.manual == tmp_path.resolve() / "manual.csv"
    assert config.team_of("s04") == "t2"
    assert config.team_of("s06") is None


def test_grades_computed_by_hand(tmp_path: Path) -> None:
    grades = _by_id(_grades(tmp_path))
    # s01: lab2 7/10 -> 14; lab7 (6 + 8) / 20 -> 14; G1 14; course (14 + 12) / 2.
    assert grades["s01"] == {"lab2": 14.0, "lab7": 14.0, "G1": 14.0, "G2": 12.0, "course": 13.0}
    # s02: no lab2 submission counts 0; the team report is s01's; G1 = 0.6 x 14.
    assert grades["s02"] == {"lab2": 0.0, "lab7": 14.0, "G1": 8.4, "G2": 16.0, "course": 12.2}
    # s03: lab7 (8 + 1.5 + 4) / 20 -> 13.5; G1 = 0.4 x 19 + 0.6 x 13.5; no exam grade.
    assert grades["s03"] == {"lab2": 19.0, "lab7": 13.5, "G1": 15.7, "G2": None, "course": None}
    # s04: an unreadable submission counts 0.
    assert grades["s04"] == {"lab2": 0.0, "lab7": 13.5, "G1": 8.1, "G2": 10.0, "course": 9.05}
    # s05: the grader failed on lab2: no G1 until it is graded again.
    assert grades["s05"] == {"lab2": None, "lab7": 13.5, "G1": None, "G2": 8.0, "course": None}
    # s06: lab2 7/9 -> 15.5556; in no team: lab7 0; G1 6.2222; course 13.1111 (rounded last).
    assert grades["s06"] == {"lab2": 15.56, "lab7": 0.0, "G1": 6.22, "G2": 20.0, "course": 13.11}


def test_notes_flag_every_zero_and_missing_grade(tmp_path: Path) -> None:
    notes = {row.student.id: row.notes for row in _grades(tmp_path).students}
    assert notes["s01"] == []
    assert notes["s02"] == ["lab2: not submitted"]
    assert notes["s03"] == [
        "lab7: not graded by hand yet: lab7.q_capacity, lab7.q_limitations",
        "G2: no exam grade",
    ]
    assert notes["s04"][0] == "lab2: unreadable submission (it broke)"
    assert notes["s05"][0] == "lab2: the grader failed; run grade batch again"
    assert notes["s06"] == ["lab7: in no team"]


def test_team_without_submission_scores_only_its_manual_parts(tmp_path: Path) -> None:
    records = [r for r in _default_records() if r.lab == "lab2"]
    grades = _grades(tmp_path, records=records)
    t1 = next(row for row in grades.students if row.student.id == "s01")
    assert t1.labs["lab7"] == 8.0  # (0 + 8) / 20 x 20
    assert "lab7: team t1 did not submit" in t1.notes


def test_identical_reports_from_two_members_count_once(tmp_path: Path) -> None:
    records = [*_default_records(), _record("s02", "lab7", 6, 8)]
    assert _by_id(_grades(tmp_path, records=records))["s02"]["lab7"] == 14.0


def test_different_reports_from_two_members_need_a_choice(tmp_path: Path) -> None:
    records = [*_default_records(), _record("s02", "lab7", 2, 8, content="other")]
    with pytest.raises(CourseError, match=r"team t1 submitted different reports \(s01, s02\)"):
        _grades(tmp_path, records=records)
    choice = '[report.submitters]\nt1 = "s02"\n'
    path = _course(tmp_path, records=records)
    path.write_text(path.read_text(encoding="utf-8") + choice, encoding="utf-8")
    grades = _by_id(compute_grades(load_course(path)))
    assert grades["s01"]["lab7"] == 10.0  # (2 + 8) / 20 x 20


def test_configured_scale_and_formula(tmp_path: Path) -> None:
    extra = "scale = 10\ndecimals = 1\n[formula]\ng1 = 0.25\ng2 = 0.75\n"
    exam = EXAM.replace("16", "8").replace("20", "10").replace("12", "6")
    grades = _by_id(_grades(tmp_path, extra=extra, exam=exam))
    # s02: lab7 7 / 10, G1 = 0.6 x 7 = 4.2, course = 0.25 x 4.2 + 0.75 x 8 = 7.05 -> 7.1.
    assert grades["s02"] == {"lab2": 0.0, "lab7": 7.0, "G1": 4.2, "G2": 8.0, "course": 7.1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"teams": '[teams]\nt1 = ["s01"]\nt2 = ["s02", "s03", "s04", "s05"]\n'},
         r"team t1 has 1 members, not 2 or 3; team t2 has 4 members"),
        ({"teams": '[teams]\nt1 = ["s01", "s02"]\nt2 = ["s02", "s03"]\n'},
         r"student s02 is in 2 teams \(t1, t2\)"),
        ({"labs": LABS.replace("0.6", "0.5")},
         r"labs: the lab weights \(lab2 0.4, lab7 0.5\) sum to 0.9, not 1"),
        ({"extra": "[formula]\ng1 = 0.6\n"}, r"formula: the weights of G1 and G2 sum to 1.1"),
        ({"labs": LABS.replace("lab7", "lab6")}, r"the report lab lab7 is not among the labs"),
        ({"report": 'manual = "m.csv"\n[report.submitters]\nt1 = "s03"\nt9 = "s01"'},
         r"s03 is not a member of team t1; report.submitters: s01 is not a member of team t9"),
        ({"report": 'manual = "m.csv"\ngradebook = "nbgrader"'},
         r"report: give the manual scores either as a CSV \(manual\) or a gradebook"),
    ],
)  # fmt: skip
def test_configuration_errors(tmp_path: Path, change: dict[str, str], message: str) -> None:
    with pytest.raises(CourseError, match=message):
        load_course(_course(tmp_path, **change))  # type: ignore[arg-type]


def test_configuration_errors_are_listed_together(tmp_path: Path) -> None:
    teams = '[teams]\nt1 = ["s01"]\n'
    with pytest.raises(CourseError) as caught:
        load_course(_course(tmp_path, teams=teams, labs=LABS.replace("0.6", "0.7")))
    lines = str(caught.value).splitlines()
    assert lines[0].endswith("course.toml:")
    assert [line.split(":")[0] for line in lines[1:]] == ["  - teams", "  - labs"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"roster": ROSTER + "s02,Al,Twin,al@uni.fr\ns03,G,H,g@uni.fr\n"},
         r"roster.csv: duplicate ids s02, s03"),
        ({"roster": ROSTER.replace("s05,Kurt,Godel,kurt@uni.fr,B,,\n", "")},
         r"team members missing from the roster: s05 \(team t2\)"),
        ({"roster": "id,first_name,email\ns01,Ada,a@b\n"}, r"missing column\(s\) last_name"),
        ({"exam": EXAM + "s98,12\ns99,11\n"},
         r"line 8: exam grade for s98, who is not in the roster\n.*line 9: exam grade for s99"),
        ({"exam": EXAM.replace("s02,16", "s02,25") + "s01,11\n"},
         r"line 3: 25 is outside \[0, 20\]\n.*line 8: a second exam grade for s01"),
        ({"exam": EXAM + "s07,abc\n"}, r"'abc' is not a number"),
        ({"manual": MANUAL + "t1,q_style,1\nt2,figures,3\nx9,figures,1\n"},
         r"no manual part 'q_style'.*\n.*t2 lab7.figures = 3, outside \[0, 2\]\n"
         r".*x9 is neither a team nor a student"),
        ({"manual": MANUAL + "t1,figures,1.5\n"}, r"a second score for team t1's lab7.figures"),
    ],
)  # fmt: skip
def test_data_errors(tmp_path: Path, change: dict[str, str], message: str) -> None:
    with pytest.raises(CourseError, match=message):
        _grades(tmp_path, **change)


def test_results_of_unknown_students_are_refused(tmp_path: Path) -> None:
    records = [
        *_default_records(),
        _record("s98", "lab2", 1, 10),
        _record("s99", "lab7", 1, 8),
        _record("s06", "lab7", 1, 8),
    ]
    with pytest.raises(CourseError) as caught:
        _grades(tmp_path, records=records)
    assert str(caught.value).splitlines()[1:] == [
        "  - lab2: student s98 has a result but is not in the roster",
        "  - lab7: student s99 has a result but is not in the roster",
        "  - lab7: s06 submitted the team report but is in no team",
    ]


def test_missing_results_folder(tmp_path: Path) -> None:
    path = _course(tmp_path, labs=LABS.replace("out/lab2", "out/nowhere"))
    with pytest.raises(CourseError, match=r"lab2: no results folder .*nowhere"):
        compute_grades(load_course(path))


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.reader(stream))


def test_exports(tmp_path: Path) -> None:
    out = tmp_path / "grades"
    written = write_exports(_grades(tmp_path), out)
    assert [path.name for path in written] == ["course.csv", "moodle.csv", "canvas.csv"]

    course = _read(out / "course.csv")
    assert course[0] == [
        "id", "last_name", "first_name", "email", "team", "lab2", "lab7", "G1", "G2", "course",
        "notes",
    ]  # fmt: skip
    assert course[1] == [
        "s01", "Lovelace", "Ada", "ada@uni.fr", "t1", "14.00", "14.00", "14.00", "12.00",
        "13.00", "",
    ]  # fmt: skip
    assert course[3][-3:] == ["", "", "lab7: not graded by hand yet: lab7.q_capacity, "
                              "lab7.q_limitations; G2: no exam grade"]  # fmt: skip
    assert len(course) == 7

    # The LMS files carry the course grade alone by default: their totals count it once.
    moodle = _read(out / "moodle.csv")
    assert moodle[0] == ["ID number", "Email address", "First name", "Last name", "Course grade"]
    assert moodle[2] == ["s02", "alan@uni.fr", "Alan", "Turing", "12.20"]

    canvas = _read(out / "canvas.csv")
    assert canvas[0] == [
        "Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Course grade",
    ]  # fmt: skip
    assert canvas[1] == ["Points Possible", "", "", "", "", "20.00"]
    assert canvas[2] == ["Lovelace, Ada", "101", "s01", "alovelace", "A", "13.00"]
    assert canvas[6][:5] == ["Godel, Kurt", "", "s05", "", "B"]
    assert len(canvas) == 8


def test_lms_files_quote_what_a_spreadsheet_would_run(tmp_path: Path) -> None:
    hostile = 's01,"=HYPERLINK(""http://x"")",@SUM(A1),+ada@uni.fr,-A,-1+1,101'
    roster = ROSTER.replace("s01,Ada,Lovelace,ada@uni.fr,A,alovelace,101", hostile)
    write_exports(compute_grades(load_course(_course(tmp_path, roster=roster))), tmp_path / "o")
    formula = '\'=HYPERLINK("http://x")'
    moodle = _read(tmp_path / "o" / "moodle.csv")
    assert moodle[1] == ["s01", "'+ada@uni.fr", formula, "'@SUM(A1)", "13.00"]
    canvas = _read(tmp_path / "o" / "canvas.csv")
    assert canvas[2] == [
        "'@SUM(A1), =HYPERLINK(\"http://x\")", "101", "s01", "'-1+1", "'-A", "13.00",
    ]  # fmt: skip
    course = _read(tmp_path / "o" / "course.csv")
    assert course[1][:4] == ["s01", "'@SUM(A1)", formula, "'+ada@uni.fr"]


def test_lms_columns_rename_and_select(tmp_path: Path) -> None:
    extra = '[lms.columns]\nG1 = "Lab reports (4512)"\ncourse = "Final grade"\n'
    path = _course(tmp_path, extra=extra)
    config = load_course(path)
    write_exports(compute_grades(config), tmp_path / "o", lms_columns=config.lms.columns)
    canvas = _read(tmp_path / "o" / "canvas.csv")
    assert canvas[0][5:] == ["Lab reports (4512)", "Final grade"]
    assert canvas[2][5:] == ["14.00", "13.00"]
    assert _read(tmp_path / "o" / "moodle.csv")[0][4:] == ["Lab reports (4512)", "Final grade"]
    assert _read(tmp_path / "o" / "course.csv")[0][5:10] == ["lab2", "lab7", "G1", "G2", "course"]

    _course(tmp_path, extra=extra + 'G3 = "x"\n')
    with pytest.raises(CourseError, match=r"lms\.columns names unknown columns G3"):
        load_course(path)


def test_cli(tmp_path: Path) -> None:
    path = _course(tmp_path)
    out = tmp_path / "grades"
    result = CliRunner().invoke(main, ["grades", "--course", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "6 students; means G1 10.48, G2 13.20, course 11.84 (out of 20)" in result.output
    assert "  s02: lab2: not submitted" in result.output
    assert "wrote course.csv, moodle.csv, canvas.csv in" in result.output
    assert (out / "canvas.csv").is_file()


def test_cli_errors(tmp_path: Path) -> None:
    path = _course(tmp_path, exam=EXAM + "s99,3\n")
    result = CliRunner().invoke(main, ["grades", "--course", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "Error: the course data is inconsistent:" in result.output
    assert "exam grade for s99, who is not in the roster" in result.output
    result = CliRunner().invoke(main, ["grades", "--course", "nope.toml", "--out", "x"])
    assert result.exit_code == 2
    assert "Error: no course configuration at nope.toml" in result.output


@pytest.mark.timeout(120)  # nbgrader generate_assignment runs once
def test_manual_scores_from_the_nbgrader_gradebook(tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    from deepgrade.staff.gradebook import write_gradebook
    from deepgrade.staff.release import release_lab

    course_dir = tmp_path / "nbgrader"
    course_dir.mkdir()
    release_lab("lab7", course_dir=course_dir)
    report = _record("s01", "lab7", 6, 8)
    assert report.result is not None
    report.result.exercises = [
        ExerciseResult(id="lab7.team", status=Status.PASSED, score=1, max_score=1),
        ExerciseResult(id="lab7.train_digits", status=Status.FAILED, score=5, max_score=7),
    ]
    write_gradebook(course_dir, load_lab(ROOT / "autograder" / "lab7_report"), [report])
    # As a teaching assistant would in formgrader: two of the four parts graded by hand.
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        for part, score in {"lab7_figures": 2.0, "lab7_q_generalisation": 3.0}.items():
            gradebook.find_grade(part, "lab7_report", "lab7_report", "s01").manual_score = score
        gradebook.db.commit()

    records = [*_default_records()[:5], report]
    grades = _grades(tmp_path, records=records, report='gradebook = "nbgrader"')
    s02 = next(row for row in grades.students if row.student.id == "s02")
    assert s02.labs["lab7"] == 11.0  # (6 + 2 + 3) / 20 x 20
    assert s02.notes[-1] == "lab7: not graded by hand yet: lab7.q_capacity, lab7.q_limitations"
