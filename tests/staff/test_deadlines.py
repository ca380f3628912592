"""Deadlines, late policies and extensions (course.toml), submission times, and team pages.

The rules and the time sources are tested without grading; one small batch of a toy team lab
(four students, two teams, three submissions) is graded once and shared by the tests of what
it writes: grades.csv, the feedback pages and the course grades.
"""

from __future__ import annotations

import csv
import os
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from deepgrade.errors import CourseError
from deepgrade.model.deadlines import SubmissionTime, TimeSource
from deepgrade.staff.batch import BatchResult, run_batch
from deepgrade.staff.course import CourseConfig, load_course
from deepgrade.staff.deadlines import parse_timestamp, penalty, submission_time
from deepgrade.staff.grades import compute_grades, write_exports
from deepgrade.staff.submissions import FoundSubmission, SourceKind
from tests.helpers import FAST, ToyCourse

pytestmark = pytest.mark.timeout(120)

PARIS = ZoneInfo("Europe/Paris")
# 2025-10-06 23:59 in Paris (summer time) is 21:59 UTC.
DEADLINE = datetime(2025, 10, 6, 21, 59, tzinfo=UTC)

TOY_LAB = """
id = "labt"
title = "A toy team lab"
notebook = "labt_team.ipynb"
module = "labt_team.py"

[[exercises]]
id = "labt.double"
points = 2.0
requires = ["double"]

[[exercises.checks]]
kind = "reference"
name = "doubles"
call = "double"
reference = "lab:double"
args = [{ gen = "randn", shape = [3] }]
"""
COURSE = """roster = "roster.csv"
autograder = "autograder"
timezone = "Europe/Paris"

[late]
percent = 10

[teams]
t1 = ["ann", "ben"]
t2 = ["cat", "dee"]

[labs.labt]
weight = 1.0
results = "out"
deadline = 2025-10-06T23:59:00
extensions = { dee = 2 }

[report]
lab = "labt"
"""
ROSTER = "id,first_name,last_name,email\n" + "".join(
    f"{s},{s.title()},Doe,{s}@uni.fr\n" for s in ("ann", "ben", "cat", "dee")
)


def _course(tmp_path: Path, text: str) -> CourseConfig:
    path = tmp_path / "course.toml"
    path.write_text(f'roster = "roster.csv"\n{text}', encoding="utf-8")
    return load_course(path)


def _lab(extra: str = "", policy: str = "percent = 10") -> str:
    return (
        '[labs.lab2]\nweight = 1\nresults = "out"\ndeadline = 2025-10-06T21:59:00Z\n'
        f'{extra}\n[labs.lab2.late]\n{policy}\n[report]\nlab = "lab2"\n'
    )


def _cost(config: CourseConfig, after: timedelta, student: str = "s01") -> tuple[float, str]:
    found = penalty(config, "lab2", student, SubmissionTime(at=DEADLINE + after))
    assert found is not None
    return found.percent, found.reason


# -- the rules ----------------------------------------------------------------------------------
def test_per_day_started_with_a_cap_and_a_cut_off(tmp_path: Path) -> None:
    config = _course(tmp_path, _lab(policy="percent = 5\ncap = 20\ncutoff = 7"))
    assert _cost(config, timedelta(0)) == (0.0, "on time")
    assert _cost(config, timedelta(minutes=1)) == (5.0, "1 day late, 5 %")
    assert _cost(config, timedelta(days=1, seconds=1)) == (10.0, "2 days late, 10 %")
    assert _cost(config, timedelta(days=6)) == (20.0, "6 days late, 20 % (the cap)")
    assert _cost(config, timedelta(days=7, minutes=1)) == (
        100.0,
        "8 days late, after the cut-off (7 days): 100 %",
    )
    unknown = penalty(config, "lab2", "s01", None)
    assert unknown is not None and unknown.percent == 0
    assert unknown.reason == "submission time unknown: not penalised"


def test_per_hour_started(tmp_path: Path) -> None:
    config = _course(tmp_path, _lab(policy='percent = 2\nper = "hour"'))
    assert _cost(config, timedelta(minutes=61)) == (4.0, "2 hours late, 4 %")
    assert _cost(config, timedelta(days=3)) == (100.0, "72 hours late, 100 %")


def test_extensions_by_days_or_a_new_deadline(tmp_path: Path) -> None:
    extensions = "extensions = { s01 = 2, s02 = 2025-10-10T12:00:00 }"
    config = _course(tmp_path, f'timezone = "Europe/Paris"\n{_lab(extensions)}')
    assert config.deadline_of("lab2", "s01") == DEADLINE + timedelta(days=2)
    # A naive time is read in the course's timezone.
    assert config.deadline_of("lab2", "s02") == datetime(2025, 10, 10, 12, tzinfo=PARIS)
    assert _cost(config, timedelta(days=1), "s01") == (0.0, "on time")
    assert _cost(config, timedelta(days=1), "s03") == (10.0, "1 day late, 10 %")
    assert config.deadline_of("lab7", "s01") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_lab(policy="percent = 120"), "labs.lab2.late.percent: Input should be less than"),
        (_lab(policy='percent = 5\nper = "week"'), "labs.lab2.late.per: Input should be 'day'"),
        (_lab("extensions = { s01 = -1 }"), "Input should be greater than 0"),
        (
            _lab("extensions = { s01 = 2025-10-01T12:00:00Z }"),
            "labs.lab2.extensions.s01: 2025-10-01 12:00 is before the deadline 2025-10-06 21:59",
        ),
        (
            '[labs.lab2]\nweight = 1\nresults = "o"\ndeadline = 2025-10-06T21:59:00Z\n'
            '[report]\nlab = "lab2"\n',
            "labs.lab2: a deadline but no late policy",
        ),
        (
            '[labs.lab2]\nweight = 1\nresults = "o"\nextensions = { s01 = 2 }\n'
            '[report]\nlab = "lab2"\n',
            "labs.lab2: late or extensions set, but no deadline",
        ),
        (f'timezone = "Mars/Olympus"\n{_lab()}', "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_configuration_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CourseError, match=r"course\.toml:") as error:
        _course(tmp_path, text)
    assert message in str(error.value)


# -- the submission's time ----------------------------------------------------------------------
def _folder(tmp_path: Path, stamp: str | None) -> FoundSubmission:
    folder = tmp_path / "submitted" / "s01" / "lab2_activations"
    folder.mkdir(parents=True)
    (folder / "lab2_activations.ipynb").write_text("{}", encoding="utf-8")
    os.utime(folder / "lab2_activations.ipynb", (0, DEADLINE.timestamp()))
    if stamp is not None:
        (folder / "timestamp.txt").write_text(stamp, encoding="utf-8")
    return FoundSubmission("s01", SourceKind.FOLDER, (folder,))


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2025-10-06 21:12:03.123456 UTC", datetime(2025, 10, 6, 21, 12, 3, 123456, tzinfo=UTC)),
        ("2025-10-06 21:12:03.123456", datetime(2025, 10, 6, 21, 12, 3, 123456, tzinfo=UTC)),
        ("2025-10-06 23:12:03 Europe/Paris\n", datetime(2025, 10, 6, 23, 12, 3, tzinfo=PARIS)),
        ("2025-10-06T23:12:03+02:00", datetime(2025, 10, 6, 21, 12, 3, tzinfo=UTC)),
    ],
)
def test_nbgrader_timestamps(tmp_path: Path, stamp: str, expected: datetime) -> None:
    assert parse_timestamp(stamp) == expected
    found = submission_time(_folder(tmp_path, stamp), UTC)
    assert (found.at, found.source, found.problem) == (expected, TimeSource.NBGRADER, "")


@pytest.mark.parametrize(
    ("stamp", "problem"),
    [
        ("last Tuesday", "not a date and time: 'last Tuesday'"),
        ("2025-02-30 10:00:00 UTC", "day is out of range for month"),
        ("2025-10-06 21:12:03 CEST", "unknown time zone 'CEST'"),
        ("2025-10-06 21:12:03 " + "x" * 200, "longer than 100 bytes"),
    ],
)
def test_a_malformed_timestamp_is_reported_and_the_file_time_used(
    tmp_path: Path, stamp: str, problem: str
) -> None:
    found = submission_time(_folder(tmp_path, stamp), UTC)
    assert (found.at, found.source) == (DEADLINE, TimeSource.MTIME)
    assert found.problem.startswith("timestamp.txt unreadable (") and problem in found.problem


def test_a_linked_timestamp_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2", encoding="utf-8")
    found = _folder(tmp_path, None)
    (found.source / "timestamp.txt").symlink_to(secret)
    time = submission_time(found, UTC)
    assert time.source is TimeSource.MTIME and "symbolic links" in time.problem
    assert "hunter2" not in time.problem


def test_an_archive_gives_its_members_time(tmp_path: Path) -> None:
    archive = tmp_path / "s01.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(zipfile.ZipInfo("s01/lab2.ipynb", (2025, 10, 7, 9, 30, 0)), "{}")
        zipped.writestr(zipfile.ZipInfo("s01/notes.txt", (2025, 12, 1, 0, 0, 0)), "later")
    found = submission_time(FoundSubmission("s01", SourceKind.ARCHIVE, (archive,)), PARIS)
    assert (found.at, found.source) == (
        datetime(2025, 10, 7, 9, 30, tzinfo=PARIS),
        "archive member time",
    )
    module = tmp_path / "s02.py"
    module.write_text("x = 1\n", encoding="utf-8")
    os.utime(module, (0, DEADLINE.timestamp()))
    found = submission_time(FoundSubmission("s02", SourceKind.FILE, (module,)), PARIS)
    assert (found.at, found.source) == (DEADLINE, TimeSource.MTIME)


# -- a batch of a team lab, and its course grades -----------------------------------------------
@pytest.fixture(scope="module")
def team_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BatchResult]:
    """ann (on time) and ben (later, 2 days late) of team t1 both hand in; cat hands in for
    t2 with a malformed timestamp and a file time 2 h 31 late; dee of t2 has 2 days more."""
    root = tmp_path_factory.mktemp("deadlines")
    ToyCourse(root).lab(
        TOY_LAB, references="def double(x):\n    return 2 * x\n", folder="labt_team"
    )
    (root / "course.toml").write_text(COURSE, encoding="utf-8")
    (root / "roster.csv").write_text(ROSTER, encoding="utf-8")
    stamps = {
        "ann": "2025-10-06 21:00:00.000000 UTC",
        "ben": "2025-10-08 10:00:00.000000 UTC",
        "cat": "yesterday",
    }
    for student, stamp in stamps.items():
        folder = root / "submitted" / student / "labt_team"
        folder.mkdir(parents=True)
        (folder / "labt_team.py").write_text("def double(x):\n    return x + x\n")
        (folder / "timestamp.txt").write_text(stamp, encoding="utf-8")
    late = datetime(2025, 10, 7, 0, 30, tzinfo=UTC).timestamp()
    os.utime(root / "submitted" / "cat" / "labt_team" / "labt_team.py", (late, late))
    settings = FAST.model_copy(update={"autograder_dir": root / "autograder"})
    result = run_batch(
        root,
        lab="labt",
        out=root / "out",
        jobs=2,
        device="cpu",
        settings=settings,
        course=root / "course.toml",
    )
    return root, result


def test_batch_says_where_each_time_came_from(team_batch: tuple[Path, BatchResult]) -> None:
    root, result = team_batch
    assert result.notes[0] == "submission times: 2 nbgrader timestamp, 1 file modification time"
    assert result.notes[1].startswith("cat: 2025-10-07 00:30 UTC (file modification time); ")
    assert "timestamp.txt unreadable (not a date and time: 'yesterday')" in result.notes[1]
    with (root / "out" / "grades.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0])[-8:] == [
        "total", "max_score", "status", "submitted", "time_source", "late", "penalty", "final"
    ]  # fmt: skip
    assert [
        (r["student"], r["team"], r["total"], r["late"], r["penalty"], r["final"]) for r in rows
    ] == [
        ("ann", "t1", "2", "on time", "0", "2"),
        ("ben", "t1", "2", "2 days late, 20 %", "0.4", "1.6"),
        ("cat", "t2", "2", "1 day late, 10 %", "0.2", "1.8"),
    ]
    assert rows[1]["submitted"] == "2025-10-08T10:00:00+00:00"
    assert rows[1]["time_source"] == "nbgrader timestamp"
    assert rows[2]["time_source"].startswith("file modification time (timestamp.txt unreadable")


def test_every_team_member_gets_the_team_page(team_batch: tuple[Path, BatchResult]) -> None:
    root, _ = team_batch
    pages = {p.stem: p.read_text(encoding="utf-8") for p in (root / "out" / "feedback").iterdir()}
    assert sorted(pages) == ["ann", "ben", "cat", "dee"]
    assert "<h1>Feedback for dee</h1>" in pages["dee"]
    for student in ("ann", "ben"):
        assert "Team t1: ann, ben; the submission of ben, the team's latest." in pages[student]
        assert "Raw score 2, minus 0.4 for lateness: 2 days late, 20 %." in pages[student]
    assert "Team t2: cat, dee; the submission of cat" in pages["dee"]
    # dee's extension: the same submission is on time for dee, late for cat.
    assert "On time: deadline 2025-10-08 23:59 CEST" in pages["dee"]
    assert "1 day late, 10 %" in pages["cat"] and "1 day late" not in pages["dee"]
    # What was wrong with the timestamp file is for staff: it may quote the student's file.
    assert "(file modification time)" in pages["cat"] and "yesterday" not in pages["cat"]


def test_course_grades_apply_the_penalties(
    team_batch: tuple[Path, BatchResult], tmp_path: Path
) -> None:
    root, _ = team_batch
    grades = compute_grades(load_course(root / "course.toml"))
    rows = {row.student.id: row for row in grades.students}
    # The team's latest submission counts: ben's, 2 days late for both members.
    assert {s: (row.raw["labt"], row.labs["labt"]) for s, row in rows.items()} == {
        "ann": (20.0, 16.0),
        "ben": (20.0, 16.0),
        "cat": (20.0, 18.0),
        "dee": (20.0, 20.0),
    }
    assert any("timestamp.txt unreadable" in note for note in rows["cat"].notes)
    write_exports(grades, tmp_path)
    with (tmp_path / "course.csv").open(encoding="utf-8", newline="") as stream:
        course = list(csv.DictReader(stream))
    assert [
        (r["id"], r["labt_raw"], r["labt_penalty"], r["labt_late"], r["labt"]) for r in course
    ] == [
        ("ann", "20.00", "4.00", "2 days late, 20 %", "16.00"),
        ("ben", "20.00", "4.00", "2 days late, 20 %", "16.00"),
        ("cat", "20.00", "2.00", "1 day late, 10 %", "18.00"),
        ("dee", "20.00", "0.00", "on time", "20.00"),
    ]
