"""Crash safety: a batch killed at any moment and run again grades as if never interrupted.

Also: a check that crashes (the grader's bug) leaves only its exercise ungraded, never a
silent zero; and two batches never write into one output folder at the same time.
"""

from __future__ import annotations

import csv
import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.model.records import RESULTS_DIR, RecordStatus, read_records
from deepgrade.model.results import IsolationLevel
from deepgrade.model.spec import load_lab
from deepgrade.sandbox.proctree import tree
from deepgrade.staff.batch import (
    FEEDBACK_DIR,
    GRADES_FILE,
    LOCK_FILE,
    SUMMARY_FILE,
    run_batch,
)
from deepgrade.staff.executors import GradingConfig, GradingTask, grade_found
from deepgrade.staff.submissions import find_submissions
from tests.helpers import FAST, LAB2_SOLUTION, LAB2_SOLUTION_NB, LAB2_STUB, ROOT, patched

pytestmark = pytest.mark.lab2

NOTEBOOK = "lab2_activations.ipynb"
MODULE = "lab2_activations.py"
SOLUTION = LAB2_SOLUTION.read_text(encoding="utf-8")
BACKWARD_BUG = patched(SOLUTION, [("return grad_output * y * (1 - y)", "return grad_output * y")])
FORWARD_BUG = patched(
    SOLUTION,
    [("y = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))", "y = 1 / (1 + e)")],
)
# One cheap exercise: each real grading then costs about a second of CPU time.
EXERCISE = "lab2.sigmoid"
STUDENTS = ["alice", "bob", "carol", "dan", "erin", "fay"]


def grades_rows(out: Path) -> list[dict[str, str]]:
    with (out / GRADES_FILE).open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


# -- grader errors per exercise -------------------------------------------------------------------
BROKEN_REFERENCE = """
import torch


def heaviside(x: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("a bug in the grader's reference")
"""


@pytest.fixture
def broken_lab(tmp_path: Path) -> Path:
    """Lab 2's checks with a reference that crashes: every check of lab2.heaviside uses it."""
    root = tmp_path / "autograder"
    shutil.copytree(ROOT / "autograder" / "lab2_activations", root / "lab2_activations")
    (root / "lab2_activations" / "references.py").write_text(BROKEN_REFERENCE, encoding="utf-8")
    return root


def test_grade_check_shows_a_crashed_check_as_the_graders_fault(
    broken_lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPGRADE_AUTOGRADER_DIR", str(broken_lab))
    shutil.copy(LAB2_SOLUTION, tmp_path / MODULE)
    exercises = ["--exercise", EXERCISE, "--exercise", "lab2.heaviside"]
    run = CliRunner().invoke(main, ["check", str(tmp_path / MODULE), *exercises, "--device", "cpu"])
    assert run.exit_code == 1, run.output
    rows = [line.split("│")[1:4] for line in run.stdout.splitlines() if line.startswith("│ lab2.")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["lab2.sigmoid", "passed", "2 / 2"],
        ["lab2.heaviside", "grader_error", "not graded / 1"],
    ]
    text = " ".join(run.stdout.replace("│", " ").split())
    assert "incomplete: the grader itself failed on lab2.heaviside" in text
    message = "the grader crashed (RuntimeError: a bug in the grader's reference), not your code"
    assert message in text
    # The staff's log has the traceback, down to the reference's line.
    assert "Traceback" in run.stderr
    assert 'references.py", line 6, in heaviside' in run.stderr


def test_a_batch_keeps_the_other_exercises_and_retries_the_submission(
    broken_lab: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    submissions, out = tmp_path / "class", tmp_path / "out"
    (submissions / "alice").mkdir(parents=True)
    shutil.copy(LAB2_SOLUTION, submissions / "alice" / MODULE)
    settings = FAST.model_copy(update={"autograder_dir": broken_lab})
    result = run_batch(
        submissions,
        lab="lab2",
        out=out,
        jobs=1,
        device="cpu",
        exercises=[EXERCISE, "lab2.heaviside"],
        settings=settings,
    )
    [alice] = result.records
    assert alice.status is RecordStatus.GRADER_ERROR
    assert not result.complete and result.mean_score is None
    assert alice.error.startswith("a check of the grader crashed in lab2.heaviside: ")
    assert alice.result is not None
    assert [(e.id, e.status.value, e.score) for e in alice.result.exercises] == [
        (EXERCISE, "passed", 2.0),
        ("lab2.heaviside", "grader_error", 0.0),
    ]
    # No total and no heaviside score: not the student's zeros; sigmoid's score stays.
    assert [
        (r["student"], r[EXERCISE], r["lab2.heaviside"], r["total"], r["status"])
        for r in grades_rows(out)
    ] == [("alice", "2", "", "", "grader_error")]
    page = (out / FEEDBACK_DIR / "alice.html").read_text(encoding="utf-8")
    assert "The grader failed on your submission" in page and "not graded / 1" in page
    # The grader processes log the traceback for staff.
    assert "RuntimeError: a bug in the grader's reference" in capfd.readouterr().err


def test_a_submission_that_changes_while_graded_is_graded_again(tmp_path: Path) -> None:
    """Its record must not claim the new content: a later run would keep it as current."""
    lab = load_lab(ROOT / "autograder" / "lab2_activations")
    (tmp_path / "class" / "dan").mkdir(parents=True)
    (tmp_path / "class" / "dan" / NOTEBOOK).write_text('{"cells": [', encoding="utf-8")
    [found] = find_submissions(tmp_path / "class", lab)
    config = GradingConfig(
        lab_id="lab2",
        lab_folder=lab.folder,
        version="v",
        max_score=lab.max_score,
        exercises=(),
        device="cpu",
        settings=FAST,
        isolation=IsolationLevel.LIMITS,
    )
    # Hashed when the batch planned its work, before dan handed in a fixed notebook.
    record = grade_found(GradingTask(found, "an older content"), lab, config)
    assert record.status is RecordStatus.GRADER_ERROR
    assert record.error == (
        "the submission changed while it was graded; the next run grades it again"
    )
    assert not record.is_current("an older content", "v")
    unchanged = grade_found(GradingTask(found, found.content_hash()), lab, config)
    assert unchanged.status is RecordStatus.SUBMISSION_ERROR


# -- one batch at a time per output folder --------------------------------------------------------
def test_a_second_batch_on_the_same_output_folder_refuses(tmp_path: Path) -> None:
    submissions, out = tmp_path / "class", tmp_path / "out"
    (submissions / "alice").mkdir(parents=True)
    shutil.copy(LAB2_STUB, submissions / "alice" / MODULE)
    out.mkdir()
    args = ["batch", str(submissions), "--lab", "lab2", "--out", str(out), "--device", "cpu"]
    with (out / LOCK_FILE).open("w", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242")
        held.flush()
        run = CliRunner().invoke(main, args)
    assert run.exit_code == 1, run.output
    assert f"Error: another grade batch (process 4242) is writing to {out}" in run.output
    assert not (out / RESULTS_DIR).exists()


# -- SIGKILL at a random moment, then run again ---------------------------------------------------
def make_class(root: Path) -> Path:
    """Six students: the solution twice, the stub, two planted bugs, and an unreadable file."""
    for student in ("alice", "bob", "dan", "erin", "fay"):
        (root / student).mkdir(parents=True)
    shutil.copy(LAB2_SOLUTION_NB, root / "alice" / NOTEBOOK)
    shutil.copy(LAB2_STUB, root / "bob" / MODULE)
    with zipfile.ZipFile(root / "carol.zip", "w") as archive:
        archive.writestr(f"carol_lab2/{MODULE}", BACKWARD_BUG)
    (root / "dan" / NOTEBOOK).write_text('{"cells": [', encoding="utf-8")
    (root / "erin" / MODULE).write_text(FORWARD_BUG, encoding="utf-8")
    shutil.copy(LAB2_SOLUTION, root / "fay" / MODULE)
    return root


def start_batch(submissions: Path, out: Path) -> subprocess.Popen[bytes]:
    """``grade batch`` as its own process group, as a shell would start it."""
    command = [sys.executable, "-m", "deepgrade", "batch", str(submissions), "--lab", "lab2"]
    options = ["--out", str(out), "--jobs", "2", "--exercise", EXERCISE, "--device", "cpu"]
    return subprocess.Popen(
        [*command, *options],
        cwd=out.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def finish_batch(submissions: Path, out: Path) -> None:
    process = start_batch(submissions, out)
    _, err = process.communicate(timeout=240)
    assert process.returncode == 0, err.decode(errors="replace")


def outcome(out: Path) -> dict[str, Any]:
    """Everything a batch decides, without timings: records, grades.csv and the pages."""
    records = {
        r.student: r.model_dump(mode="json", exclude={"duration_s"}) for r in read_records(out)
    }
    pages = {p.name: p.read_bytes() for p in (out / FEEDBACK_DIR).iterdir()}
    return {
        "files": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()),
        "records": records,
        "grades": (out / GRADES_FILE).read_text(encoding="utf-8"),
        "feedback": pages,
        "summary": (out / SUMMARY_FILE).read_bytes(),
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The class, and what one uninterrupted batch makes of it."""
    root = tmp_path_factory.mktemp("crash")
    submissions = make_class(root / "class")
    # In this process, which spares a start of Python: the same grading as the command's.
    run_batch(
        submissions,
        lab="lab2",
        out=root / "reference",
        jobs=2,
        device="cpu",
        exercises=[EXERCISE],
        settings=FAST,
    )
    return submissions, outcome(root / "reference")


def start_time(pid: int) -> str | None:
    """When ``pid`` started (against pid reuse); None once it has ended or is a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    while not condition():
        assert process.poll() is None, "the batch ended before the moment to kill it"
        time.sleep(0.01)


def records_written(out: Path) -> int:
    return len(list((out / RESULTS_DIR).glob("*.json")))


# Each moment: what to wait for, then a seeded random delay, and whom to kill.
MOMENTS = {
    # The output folder is locked and the graders start: no record is written yet.
    "before any record": (lambda out: (out / LOCK_FILE).exists(), (0.0, 0.5), "group"),
    # Graders busy: only the batch itself is killed, the kernel must take its graders along.
    "mid-way": (lambda out: records_written(out) >= 2, (0.0, 0.3), "leader"),
    # grades.csv is written: the feedback pages and the summary are being written (their
    # imports alone take longer than the delay).
    "during the final writes": (lambda out: (out / GRADES_FILE).exists(), (0.0, 0.2), "group"),
}


@pytest.mark.slow  # three killed runs and their reruns: about 60 s of CPU time
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux's /proc")
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_batch_killed_at_any_moment_then_rerun_grades_the_same(
    moment: str, uninterrupted: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    submissions, expected = uninterrupted
    ready, delay, victim = MOMENTS[moment]
    out = tmp_path / "out"
    process = start_batch(submissions, out)
    wait_for(lambda: ready(out), process)
    time.sleep(random.Random(f"crash {moment}").uniform(*delay))
    started = {pid: start_time(pid) for pid in tree(process.pid)}
    if victim == "group":
        os.killpg(process.pid, signal.SIGKILL)
    else:
        os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the batch ended before it could be killed"

    # Nothing of the killed run survives it for long: the kernel kills graders with the batch
    # and workers with their grader.
    def survivors() -> list[int]:
        return [pid for pid, start in started.items() if start and start_time(pid) == start]

    deadline = time.monotonic() + 30
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not survivors(), f"processes of the killed batch still run: {survivors()}"
    # What the kill left is whole records (read_records would fail on half a file) and
    # perhaps temporary files; plant a half-written one too.
    (out / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    assert len(read_records(out)) <= len(STUDENTS)
    (out / RESULTS_DIR / ".alice.json.k1ll3d.tmp").write_text('{"student": "al', "utf-8")

    finish_batch(submissions, out)
    assert outcome(out) == expected
    assert not list(out.rglob("*.tmp"))
