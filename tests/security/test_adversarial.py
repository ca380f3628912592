"""Submissions that attack or break the grader (tests/adversarial/cases.toml): each gets exactly
its expected statuses and scores through ``grade check`` and ``grade batch``, the grader stays
alive, nothing the attack started outlives its grading, and honest submissions graded in the
same batch keep the grades they get alone."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.engine.grading import grade_submission
from deepgrade.errors import SubmissionError, UsageError
from deepgrade.model.records import RecordStatus, SubmissionRecord
from deepgrade.model.results import LabResult
from deepgrade.staff.batch import run_batch
from tests.helpers import (
    ATTACKS,
    ATTACKS_DIR,
    CHECKED,
    HEAVISIDE,
    LAB2_SOLUTION,
    SETTINGS,
    STRICT_STEP,
    Fill,
    assert_no_leftovers,
    attack_settings,
    attack_tables,
    build_archive,
    leftovers,
    needs_isolation,
    new_marker,
    patched,
    place,
)

pytestmark = [pytest.mark.lab2, pytest.mark.slow]


def test_the_table_is_whole() -> None:
    """Every attack file is in the table and every row names a file or archive that exists."""
    files = {a.file for a in ATTACKS.values() if a.file and not a.folder}
    folders = {a.folder for a in ATTACKS.values() if a.folder}
    on_disk = {p.name for p in ATTACKS_DIR.iterdir() if p not in attack_tables()}
    assert on_disk == files | folders
    assert all(a.file or a.archive for a in ATTACKS.values())
    assert all(bool(a.unreadable) != bool(a.status) for a in ATTACKS.values())
    assert len(ATTACKS) >= 30


# -- preparing and running an attack --------------------------------------------------------------


def test_leftovers_are_seen() -> None:
    """The check that nothing outlives an attack does see a process named like its children."""
    marker = new_marker()
    script = (
        f"import ctypes, time; ctypes.CDLL(None).prctl(15, b'{marker}', 0, 0, 0); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 10.0
        while not leftovers(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert leftovers(marker) == [f"{child.pid} {marker}"]
    finally:
        child.kill()
        child.wait()
    assert leftovers(marker) == []


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on this machine that records what connects to it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                received.append(connection.recv(1 << 16) or b"(connected)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


# -- grade check ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CHECKED)
def test_attack_through_grade_check(
    name: str, tmp_path: Path, listener: tuple[int, list[bytes]]
) -> None:
    attack = ATTACKS[name]
    needs_isolation(attack)
    port, received = listener
    fill = Fill(port)
    path = place(attack, tmp_path / name, fill)
    grade = {"lab": attack.lab, "exercises": attack.exercises, "device": "cpu"}
    if attack.unreadable:
        with pytest.raises(UsageError) as refused:
            grade_submission(path, settings=attack_settings(attack), **grade)
        for word in attack.unreadable:
            assert word in str(refused.value)
        return
    result = grade_submission(path, settings=attack_settings(attack), **grade)
    attack.check(result)
    assert received == []
    assert_no_leftovers(fill.marker)


@pytest.mark.parametrize("name", ["fake_output", "output_flood"])
def test_grade_check_json_is_the_graders_alone(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the submission prints, ``grade check --json`` prints one JSON document: ours."""
    attack = ATTACKS[name]
    path = place(attack, tmp_path / name, Fill())
    for key, value in {
        "EXERCISE_TIMEOUT": "3",
        "CELL_TIMEOUT": "10",
        "INCLUDE_HIDDEN": "0",
    }.items():
        monkeypatch.setenv(f"DEEPGRADE_{key}", value)
    args = ["check", str(path), "--lab", "lab2", "--exercise", HEAVISIDE, "--device", "cpu"]
    run = CliRunner().invoke(main, [*args, "--json"])
    assert run.exit_code == (0 if attack.status == "passed" else 1), run.output
    document = json.loads(run.stdout)
    assert document["exercises"][0] | {"message": "", "checks": []} == {
        "id": HEAVISIDE,
        "status": attack.status,
        "score": attack.score,
        "max_score": 1.0,
        "message": "",
        "checks": [],
    }
    assert (document["score"], document["max_score"]) == (attack.score, 1.0)


# -- grade batch ----------------------------------------------------------------------------------
# The nastiest attackers, graded in one batch with honest students.
BATCH_ATTACKS = (
    "infinite_loop",
    "fork_bomb",
    "huge_allocation",
    "exit_mid_check",
    "output_flood",
    "read_stdin",
    "tamper_tripwire",
    "html_injection",
    "invalid_json",
    "zip_bomb",
    "zip_traversal",
    "zip_symlink",
    "zip_shadow_torch",
)


def test_attackers_and_honest_students_in_one_batch(tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    honest = {
        "honest_solution": LAB2_SOLUTION.read_text(encoding="utf-8"),
        "honest_bug": patched(LAB2_SOLUTION.read_text(encoding="utf-8"), STRICT_STEP),
    }
    alone: dict[str, LabResult] = {}
    for student, source in honest.items():
        path = submissions / student / "lab2_activations.py"
        path.parent.mkdir(parents=True)
        path.write_text(source, encoding="utf-8")
        alone[student] = grade_submission(
            path, lab="lab2", exercises=[HEAVISIDE], device="cpu", settings=SETTINGS
        )
    assert [alone[s].score for s in honest] == [1.0, 0.666667]
    fill = Fill()
    for name in BATCH_ATTACKS:
        attack = ATTACKS[name]
        if attack.archive:
            build_archive(attack.archive, submissions / f"{name}.zip")
        else:
            place(attack, submissions / name, fill)

    out = tmp_path / "out"
    result = run_batch(
        submissions,
        lab="lab2",
        out=out,
        jobs=2,
        device="cpu",
        exercises=[HEAVISIDE],
        settings=SETTINGS,
    )
    records = {r.student: r for r in result.records}
    assert sorted(records) == sorted([*honest, *BATCH_ATTACKS])
    for student, expected in alone.items():
        got = _graded(records[student])
        assert [e.model_dump() for e in got.exercises] == [
            e.model_dump() for e in expected.exercises
        ]
    for name in BATCH_ATTACKS:
        attack, record = ATTACKS[name], records[name]
        if attack.unreadable:
            assert record.status is RecordStatus.SUBMISSION_ERROR, record.error
            for word in attack.unreadable:
                assert word in record.error
        else:
            attack.check(_graded(record))
    assert result.complete
    assert_no_leftovers(fill.marker)
    # What the student printed or raised is shown on their feedback page as text, never as HTML.
    page = (out / "feedback" / "html_injection.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;document.title" in page
    assert "<script>" not in page and '<h1 class="score">' not in page


def _graded(record: SubmissionRecord) -> LabResult:
    assert record.status is RecordStatus.GRADED, record.error
    assert record.result is not None
    return record.result


def test_zip_archives_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    """The traversal's ``../escaped.py`` never lands next to the folder it was extracted to."""
    from deepgrade.engine.archives import extract_archive

    archive = build_archive("traversal", tmp_path / "evil.zip")
    target = tmp_path / "inside" / "deeper"
    target.mkdir(parents=True)
    with pytest.raises(SubmissionError):
        extract_archive(archive, target)
    assert not (tmp_path / "inside" / "escaped.py").exists()
