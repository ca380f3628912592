"""deepgrade's scores in a real nbgrader course: its gradebook, autograded notebooks, feedback."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.utils import determine_grade
from traitlets.config import Config

from deepgrade.errors import UsageError
from deepgrade.model.records import RecordStatus, SubmissionRecord
from deepgrade.model.results import ExerciseResult, LabResult, Status
from deepgrade.model.spec import LabSpec, load_lab
from deepgrade.staff import gradebook as gradebook_module
from deepgrade.staff.gradebook import read_manual_scores, write_gradebook
from deepgrade.staff.release import grade_id, release_lab
from tests.helpers import ROOT

LAB = load_lab(ROOT / "autograder" / "lab7_report")
ASSIGNMENT = "lab7_report"  # the lab's folder: nbgrader's assignment and notebook name
TEAM, TRAIN = "lab7.team", "lab7.train_digits"


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course with lab 7 released by nbgrader, and alice's submitted notebook."""
    course = tmp_path_factory.mktemp("released")
    report = release_lab("lab7", course_dir=course)
    submitted = course / "submitted" / "alice" / ASSIGNMENT
    submitted.mkdir(parents=True)
    shutil.copy(report.notebook, submitted)
    (submitted / "timestamp.txt").write_text("2025-03-01 09:30:00.000000 UTC\n")
    return course


@pytest.fixture
def course(released: Path, tmp_path: Path) -> Path:
    """A fresh copy of the released course for each test: tests write its gradebook."""
    return Path(shutil.copytree(released, tmp_path / "course"))


@pytest.fixture
def gradebook(course: Path) -> Iterator[Any]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        yield gb


def record(
    student: str, scores: dict[str, float], lab: LabSpec = LAB, source: Path | None = None
) -> SubmissionRecord:
    """A graded record whose exercises earned ``scores`` (the rest: full points)."""
    exercises = []
    for exercise in lab.exercises:
        score = scores.get(exercise.id, exercise.points)
        exercises.append(
            ExerciseResult(
                id=exercise.id,
                status=Status.PASSED if score == exercise.points else Status.FAILED,
                score=score,
                max_score=exercise.points,
                message=f"{exercise.id} earned {score:g}",
            )
        )
    return SubmissionRecord(
        student=student,
        lab=lab.id,
        source=str(source or f"{student}.zip"),
        graded_file=f"{ASSIGNMENT}.ipynb",
        content_hash="0" * 16,
        checks_version="test",
        status=RecordStatus.GRADED,
        result=LabResult(lab=lab.id, exercises=exercises),
        max_score=lab.max_score,
    )


def failed_record(student: str) -> SubmissionRecord:
    return SubmissionRecord(
        student=student,
        lab=LAB.id,
        source=f"{student}.zip",
        content_hash="",
        checks_version="test",
        status=RecordStatus.SUBMISSION_ERROR,
        error="not a zip archive",
        max_score=LAB.max_score,
    )


def auto_scores(gb: Any, student: str) -> dict[str, float | None]:
    return {
        e.id: gb.find_grade(grade_id(e.id), ASSIGNMENT, ASSIGNMENT, student).auto_score
        for e in LAB.exercises
    }


def handed_in(course: Path, folder: Path, edit: Callable[[Any], None]) -> Path:
    """A student's own folder holding the released notebook, edited."""
    notebook = nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    edit(notebook)
    folder.mkdir()
    nbformat.write(notebook, folder / f"{ASSIGNMENT}.ipynb")
    return folder


def test_writes_auto_scores_totals_and_autograded_notebooks(
    course: Path, gradebook: Any, tmp_path: Path
) -> None:
    def team_cell(notebook: Any) -> Any:
        return next(cell for cell in notebook.cells if cell.source.startswith("def team("))

    def answer(notebook: Any) -> None:
        team_cell(notebook).source = "def team():\n    return ['Bob Marker', 'Eve']"

    def spoil(notebook: Any) -> None:
        team_cell(notebook).metadata.nbgrader.grade_id = "not.an.id"

    bob = handed_in(course, tmp_path / "bob", answer)
    dora = handed_in(course, tmp_path / "dora", spoil)
    report = write_gradebook(
        course,
        LAB,
        [
            record("alice", {}),
            record("bob", {TEAM: 0.0, TRAIN: 3.5}, source=bob),
            failed_record("carol"),
            record("dora", {}, source=dora),
        ],
    )

    assert report.written == ["alice", "bob", "dora"]
    assert report.skipped == {"carol": "submission_error: not a zip archive"}
    # Dora's notebook cannot be matched with the release: her feedback shows the release.
    assert len(report.notes) == 1 and "dora" in report.notes[0]
    autograded = course / "autograded"
    assert "Bob Marker" in (autograded / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    assert (autograded / "dora" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    assert auto_scores(gradebook, "alice") == {TEAM: 1.0, TRAIN: 7.0}
    assert auto_scores(gradebook, "bob") == {TEAM: 0.0, TRAIN: 3.5}
    alice = gradebook.find_submission(ASSIGNMENT, "alice")
    bob = gradebook.find_submission(ASSIGNMENT, "bob")
    # Manual parts stay ungraded (zero) until staff grade them.
    assert (alice.score, bob.score, bob.max_score) == (8.0, 3.5, LAB.max_score + 12.0)
    assert str(alice.timestamp) == "2025-03-01 09:30:00"
    for exercise in LAB.exercises:
        cell = grade_id(exercise.id)
        assert not gradebook.find_grade(cell, ASSIGNMENT, ASSIGNMENT, "bob").needs_manual_grade
    with pytest.raises(MissingEntry):
        gradebook.find_student("carol")

    # nbgrader itself reads the same scores from the autograded notebooks' test cells.
    for student, scores in [("alice", {TEAM: 1.0, TRAIN: 7.0}), ("bob", {TEAM: 0.0, TRAIN: 3.5})]:
        folder = course / "autograded" / student / ASSIGNMENT
        notebook = nbformat.read(folder / f"{ASSIGNMENT}.ipynb", as_version=4)
        read = {
            cell.metadata.nbgrader.grade_id: determine_grade(cell)[0]
            for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("grade")
            and not cell.metadata.nbgrader.get("solution")
        }
        assert read == {grade_id(k): v for k, v in scores.items()}
    assert (course / "autograded" / "alice" / ASSIGNMENT / "timestamp.txt").is_file()


def test_hand_scores_survive_a_second_write(course: Path, gradebook: Any) -> None:
    write_gradebook(course, LAB, [record("bob", {TRAIN: 3.5})])
    # As formgrader does: a score for a written answer, and an override of a test cell.
    answer = gradebook.find_grade("lab7_q_capacity", ASSIGNMENT, ASSIGNMENT, "bob")
    answer.manual_score = 2.5
    override = gradebook.find_grade(grade_id(TRAIN), ASSIGNMENT, ASSIGNMENT, "bob")
    override.manual_score = 5.0
    override.needs_manual_grade = False
    gradebook.db.commit()

    write_gradebook(course, LAB, [record("bob", {TRAIN: 6.0})])

    gradebook.db.expire_all()
    assert (
        gradebook.find_grade("lab7_q_capacity", ASSIGNMENT, ASSIGNMENT, "bob").manual_score == 2.5
    )
    override = gradebook.find_grade(grade_id(TRAIN), ASSIGNMENT, ASSIGNMENT, "bob")
    assert (override.manual_score, override.auto_score) == (5.0, 6.0)
    assert override.needs_manual_grade  # the autograde changed under a hand score: review it
    assert gradebook.find_submission(ASSIGNMENT, "bob").score == 1.0 + 5.0 + 2.5

    manual = read_manual_scores(course, ASSIGNMENT)
    assert manual == {
        "bob": {
            "lab7_figures": None,
            "lab7_q_generalisation": None,
            "lab7_q_capacity": 2.5,
            "lab7_q_limitations": None,
        }
    }
    assert {grade_id(part.id) for part in LAB.manual} == set(manual["bob"])


def test_nbgrader_export_and_feedback_show_the_scores(course: Path) -> None:
    write_gradebook(course, LAB, [record("alice", {TRAIN: 3.5}), record("bob", {TEAM: 0.0})])

    subprocess.run(
        [sys.executable, "-m", "nbgrader", "export", "--to", "grades.csv"],
        cwd=course,
        check=True,
        capture_output=True,
    )
    with (course / "grades.csv").open() as stream:
        rows = {row["student_id"]: row for row in csv.DictReader(stream)}
    assert (rows["alice"]["score"], rows["bob"]["score"]) == ("4.5", "7.0")
    assert rows["alice"]["max_score"] == "20.0"

    # What formgrader's "generate feedback" button and `nbgrader generate_feedback` both run.
    config = Config()
    config.CourseDirectory.root = str(course)
    outcome = NbGraderAPI(config=config).generate_feedback(ASSIGNMENT, "alice")
    assert outcome["success"], outcome.get("log")
    html = (course / "feedback" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "Score: 4.5 / 20.0" in html
    assert "Score: 3.5 / 7.0" in html
    assert "lab7.train_digits earned 3.5" in html  # deepgrade's explanation, in the test cell


def test_a_failed_write_leaves_nothing_of_that_submission(
    course: Path, gradebook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_gradebook(course, LAB, [record("bob", {TRAIN: 3.5})])
    real = gradebook_module._set_auto_score
    calls = 0

    def fail_on_second_cell(grade: Any, score: float) -> None:
        nonlocal calls
        calls += 1
        if calls % 2 == 0:
            raise RuntimeError("the disk is full")
        real(grade, score)

    monkeypatch.setattr(gradebook_module, "_set_auto_score", fail_on_second_cell)

    with pytest.raises(RuntimeError):
        write_gradebook(course, LAB, [record("bob", {TEAM: 0.0, TRAIN: 1.0})])
    with pytest.raises(RuntimeError):
        write_gradebook(course, LAB, [record("dora", {})])

    gradebook.db.expire_all()
    assert auto_scores(gradebook, "bob") == {TEAM: 1.0, TRAIN: 3.5}
    assert [student.id for student in gradebook.students] == ["bob"]
    assert not (course / "autograded" / "dora").exists()


def test_staff_are_told_to_release_first(course: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match=r"grade release lab7 --course"):
        write_gradebook(empty, LAB, [record("alice", {})])
    assert not (empty / "gradebook.db").exists()

    lab2 = load_lab(ROOT / "autograder" / "lab2_activations")
    with pytest.raises(UsageError, match=r"no assignment lab2_activations.*grade release lab2"):
        write_gradebook(course, lab2, [])

    stray = record("alice", {})
    assert stray.result is not None
    stray.result.exercises.append(
        ExerciseResult(id="lab7.extra", status=Status.PASSED, score=1.0, max_score=1.0)
    )
    with pytest.raises(UsageError, match=r"lab7\.extra has no test cell lab7_extra"):
        write_gradebook(course, LAB, [record("bob", {}), stray])
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.students == []  # checked before anything was written

    with pytest.raises(UsageError, match="no assignment 'lab9'"):
        read_manual_scores(course, "lab9")


def _mtimes(course: Path) -> dict[str, int]:
    """Every file of the course but deepgrade's own state, and when it last changed."""
    return {
        str(path.relative_to(course)): path.stat().st_mtime_ns
        for path in course.rglob("*")
        if path.is_file() and ".deepgrade" not in path.parts
    }


def test_a_second_write_of_the_same_records_touches_nothing(
    course: Path, gradebook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [record("alice", {TRAIN: 3.5}), record("bob", {})]
    assert write_gradebook(course, LAB, records).written == ["alice", "bob"]
    before = _mtimes(course)

    def no_nbgrader(course_dir: Path) -> Any:
        raise AssertionError("nbgrader was opened")

    with monkeypatch.context() as patched:
        patched.setattr(gradebook_module, "_course", no_nbgrader)
        again = write_gradebook(course, LAB, records)
    assert (again.written, again.unchanged) == ([], ["alice", "bob"])
    assert _mtimes(course) == before

    # Once formgrader has changed the gradebook, the submissions are checked in it: still the
    # same, still not written, and the hand score stays.
    gradebook.find_grade("lab7_q_capacity", ASSIGNMENT, ASSIGNMENT, "bob").manual_score = 2.0
    gradebook.db.commit()
    changed = _mtimes(course)
    again = write_gradebook(course, LAB, records)
    assert (again.written, again.unchanged) == ([], ["alice", "bob"])
    assert _mtimes(course) == changed

    # A new result for one student, and an autograded notebook deleted by hand: both written.
    (course / "autograded" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").unlink()
    updated = [record("alice", {TRAIN: 3.5}), record("bob", {TRAIN: 1.0})]
    again = write_gradebook(course, LAB, updated)
    assert (again.written, again.unchanged) == (["alice", "bob"], [])
    gradebook.db.expire_all()
    assert auto_scores(gradebook, "bob") == {TEAM: 1.0, TRAIN: 1.0}
    assert (
        gradebook.find_grade("lab7_q_capacity", ASSIGNMENT, ASSIGNMENT, "bob").manual_score == 2.0
    )
    assert (course / "autograded" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()


@pytest.mark.parametrize("stamp", ["not a time at all\n", "link"])
def test_a_students_timestamp_file_is_read_with_bounds(
    course: Path, gradebook: Any, tmp_path: Path, stamp: str
) -> None:
    # timestamp.txt comes with the student's submission: one that cannot be read costs that
    # submission its time, never the class its gradebook, and a link is not followed.
    submitted = course / "submitted" / "alice" / ASSIGNMENT / "timestamp.txt"
    submitted.unlink()
    if stamp == "link":
        secret = tmp_path / "secret.txt"
        secret.write_text("2025-03-01 09:30:00.000000 UTC\n")
        submitted.symlink_to(secret)
    else:
        submitted.write_text(stamp)
    report = write_gradebook(course, LAB, [record("alice", {})])
    assert report.written == ["alice"]
    assert gradebook.find_submission(ASSIGNMENT, "alice").timestamp is None
    copied = course / "autograded" / "alice" / ASSIGNMENT / "timestamp.txt"
    # Kept beside the graded notebook as handed in (nbgrader autograde does so), unless a link.
    assert (copied.read_text() if copied.exists() else "link") == stamp
