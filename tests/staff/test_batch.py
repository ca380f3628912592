"""grade batch: a small real class graded in parallel, resumed, and graders that die."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.errors import UsageError
from deepgrade.model.records import (
    RecordStatus,
    SubmissionRecord,
    read_record,
    read_records,
    record_path,
)
from deepgrade.model.spec import load_lab
from deepgrade.staff import batch
from deepgrade.staff.batch import BatchOptions, run_batch, write_grades
from deepgrade.staff.course import load_course
from tests.helpers import FAST, LAB2_SOLUTION, MODULE, ONLY, ROOT, ToyCourse, make_class

pytestmark = pytest.mark.lab2


def grades(out: Path) -> list[dict[str, str]]:
    with (out / "grades.csv").open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow  # seven real gradings in four runs: about 25 s of CPU time
def test_a_class_is_graded_in_parallel_then_resumed(tmp_path: Path) -> None:
    submissions, out = make_class(tmp_path / "class"), tmp_path / "out"
    args = ["batch", str(submissions), "--lab", "lab2", "--out", str(out), "--jobs", "2"]
    run = CliRunner().invoke(main, [*args, "--device", "cpu", "--exercise", ONLY[0]])
    assert run.exit_code == 0, run.output
    assert "3 graded, 0 up to date, 1 failed; mean score 1.00 / 2" in run.output
    assert "dan: submission_error:" in run.output
    assert [
        (row["student"], row["lab2.sigmoid"], row["total"], row["max_score"], row["status"])
        for row in grades(out)
    ] == [
        ("alice", "2", "2", "2", "graded"),
        ("bob", "0", "0", "2", "graded"),
        ("carol", "1", "1", "2", "graded"),
        ("dan", "", "0", "2", "submission_error"),
    ]
    assert list(grades(out)[0]) == [
        "student", "team", "lab2.sigmoid", "total", "max_score", "status"
    ]  # fmt: skip
    records = {r.student: r for r in read_records(out)}
    assert records["carol"].graded_file == f"carol_lab2/{MODULE}"
    assert "not a valid notebook" in records["dan"].error
    assert sorted(p.name for p in (out / "feedback").iterdir()) == [
        f"{s}.html" for s in ("alice", "bob", "carol", "dan")
    ]
    assert (out / "summary.html").is_file()

    def again(**options: object) -> tuple[list[str], list[str]]:
        result = run_batch(
            submissions, lab="lab2", out=out, jobs=2, exercises=ONLY, settings=FAST, **options
        )
        assert len(result.records) == 4
        return result.graded, result.skipped

    # Nothing changed: nothing is graded, a half-written temporary file is not a record.
    (out / "results" / ".alice.json.x1y2.tmp").write_text('{"student": "al', encoding="utf-8")
    assert again(device="cpu") == ([], ["alice", "bob", "carol", "dan"])
    # bob hands in the solution: only bob is graded again.
    shutil.copy(LAB2_SOLUTION, submissions / "bob" / MODULE)
    assert again(device="cpu") == (["bob"], ["alice", "carol", "dan"])
    assert [row["total"] for row in grades(out)] == ["2", "2", "1", "0"]
    # Grading the whole lab is not what the records of one exercise stand for.
    assert read_record(record_path(out, "alice")).checks_version.endswith("+lab2.sigmoid")
    assert again(device="cpu", force=True) == (["alice", "bob", "carol", "dan"], [])


CRASHING_LAB = """
id = "labx"
title = "A lab whose references end the grader process"
notebook = "labx_crash.ipynb"
module = "labx_crash.py"

[[exercises]]
id = "labx.double"
points = 1.0
requires = ["double"]

[[exercises.checks]]
kind = "reference"
name = "doubles"
call = "double"
reference = "lab:double"
args = [{ gen = "randn", shape = [3] }]
"""


def test_a_grader_that_dies_costs_only_its_submission(tmp_path: Path) -> None:
    # The grader imports a lab's references when it grades: here that ends its process.
    lab_folder = ToyCourse(tmp_path).lab(
        CRASHING_LAB, references="import os\nos._exit(3)\n", folder="labx_crash"
    )
    submissions = tmp_path / "class"
    for student in ("erin", "fay"):
        (submissions / student).mkdir(parents=True)
        (submissions / student / "labx_crash.py").write_text("def double(x): return 2 * x\n")
    settings = FAST.model_copy(update={"autograder_dir": lab_folder.parent})
    out = tmp_path / "out"
    result = run_batch(submissions, lab="labx", out=out, jobs=1, device="cpu", settings=settings)
    assert [(r.student, r.status) for r in result.records] == [
        ("erin", RecordStatus.GRADER_ERROR),
        ("fay", RecordStatus.GRADER_ERROR),
    ]
    assert all("exit code 3" in r.error for r in result.records)
    assert not result.complete
    assert [(row["student"], row["total"]) for row in grades(out)] == [("erin", ""), ("fay", "")]
    # A grader error is never final: the next run tries again.
    again = run_batch(submissions, lab="labx", out=out, jobs=2, device="cpu", settings=settings)
    assert again.graded == ["erin", "fay"]


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["{tmp}/class", "--lab", "lab99"], 2, "Error: unknown lab 'lab99'"),
        (["{tmp}/nope", "--lab", "lab2"], 2, "Error: no such folder of submissions"),
        (["{tmp}/class", "--lab", "lab2"], 1, "Error: no submissions found in"),
        (["{tmp}/class", "--lab", "lab2", "--jobs", "0"], 2, "Invalid value for '--jobs'"),
        (
            ["{tmp}/class", "--lab", "lab2", "--course", "{tmp}/c.toml"],
            2,
            "no course configuration",
        ),
    ],
)
def test_usage_errors(tmp_path: Path, arguments: list[str], code: int, message: str) -> None:
    (tmp_path / "class").mkdir()
    args = [a.format(tmp=tmp_path) for a in arguments]
    run = CliRunner().invoke(main, ["batch", *args, "--out", str(tmp_path / "out")])
    assert run.exit_code == code, run.output
    assert message in run.output


@pytest.mark.parametrize(
    ("lab", "exercises", "folder", "message"),
    [
        ("lab99", (), "class", "unknown lab 'lab99'"),
        ("lab2", ("lab2.nope",), "class", "lab lab2 has no exercise 'lab2.nope'"),
        ("lab2", (), "nope", "no such folder of submissions"),
    ],
)
def test_run_batch_validates_before_any_grader_starts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lab: str,
    exercises: tuple[str, ...],
    folder: str,
    message: str,
) -> None:
    """The Python API validates as grade batch does (deepgrade.engine.validation)."""
    (tmp_path / "class").mkdir()
    shutil.copy(LAB2_SOLUTION, tmp_path / "class" / "alice.py")
    monkeypatch.setattr(batch, "open_executor", lambda *a, **k: pytest.fail("graders started"))
    with pytest.raises(UsageError, match=message):
        run_batch(tmp_path / folder, lab=lab, out=tmp_path / "out", exercises=exercises)
    assert not (tmp_path / "out").exists()


COURSE = """
roster = "roster.csv"

[teams]
team01 = ["alice", "bob"]

[labs.lab2]
weight = 1.0
results = "out"

[report]
lab = "lab2"
"""


def test_grades_csv_names_each_students_team(tmp_path: Path) -> None:
    lab = load_lab(ROOT / "autograder" / "lab2_activations")
    course = tmp_path / "course.toml"
    course.write_text(COURSE, encoding="utf-8")
    records = [
        SubmissionRecord(
            student=student,
            lab="lab2",
            source=f"{student}.ipynb",
            content_hash="0",
            checks_version="0",
            status=status,
            max_score=lab.max_score,
        )
        for student, status in [
            ("carol", RecordStatus.GRADER_ERROR),
            ("alice", RecordStatus.SUBMISSION_ERROR),
        ]
    ]
    write_grades(tmp_path / "grades.csv", lab, records, team_of=load_course(course).team_of)
    assert [(r["student"], r["team"], r["total"], r["status"]) for r in grades(tmp_path)] == [
        ("alice", "team01", "0", "submission_error"),
        ("carol", "", "", "grader_error"),
    ]


@pytest.mark.lab7
def test_batch_writes_the_gradebook_of_a_released_course(tmp_path: Path) -> None:
    """End to end: release into an nbgrader course, batch with --gradebook, nbgrader reads it."""
    from nbgrader.api import Gradebook

    from deepgrade.staff.release import release_lab

    course = tmp_path / "course"
    release_lab("lab7", course_dir=course)
    submitted = course / "submitted" / "alice" / "lab7_report"
    submitted.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / "lab7_report" / "lab7_report.ipynb", submitted)
    args = ["batch", str(course / "submitted"), "--lab", "lab7", "--out", str(tmp_path / "out")]
    gradebook = ["--gradebook", str(course), "--exercise", "lab7.team", "--device", "cpu"]
    run = CliRunner().invoke(main, [*args, *gradebook])
    assert run.exit_code == 0, run.output
    assert "1 written" in run.output
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        grade = book.find_grade("lab7_team", "lab7_report", "lab7_report", "alice")
        assert grade.auto_score == 1.0
    assert (course / "autograded" / "alice" / "lab7_report" / "lab7_report.ipynb").is_file()


def test_batch_options_are_one_model(tmp_path: Path) -> None:
    """The CLI's options and run_batch's keywords are BatchOptions' fields: a wrong one is a
    usage error before anything is graded."""
    with pytest.raises(UsageError, match="invalid batch options"):
        run_batch(tmp_path, lab="lab2", out=tmp_path / "out", jbos=2)
    assert BatchOptions(exercises=["lab2.relu"]).exercises == ("lab2.relu",)  # type: ignore[arg-type]
