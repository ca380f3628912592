"""Submissions that attack or break the grader (tests/adversarial/cases.toml): each gets exactly
its expected statuses and scores through ``grade check`` and ``grade batch``, the grader stays
alive, nothing the attack started outlives its grading, and honest submissions graded in the
same batch keep the grades they get alone."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deepgrade.batch import run_batch
from deepgrade.cli import main
from deepgrade.errors import SubmissionError
from deepgrade.grading import grade_submission
from deepgrade.isolation import bubblewrap_problem
from deepgrade.results import RecordStatus, SubmissionRecord
from deepgrade.scoring import LabResult

from .conftest import FAST, LAB2_SOLUTION, ROOT, patched

pytestmark = [pytest.mark.lab2, pytest.mark.slow]

ATTACKS_DIR = Path(__file__).parent / "adversarial"
HEAVISIDE = "lab2.heaviside"
# Short enough that the hanging attacks stay quick; cells get longer, for the flood at import.
SETTINGS = FAST.model_copy(
    update={"exercise_timeout": 3.0, "cell_timeout": 10.0, "include_hidden": False}
)


@dataclass(frozen=True)
class Attack:
    """One row of cases.toml."""

    name: str
    file: str = ""
    folder: str = ""
    archive: str = ""
    exercises: list[str] = field(default_factory=lambda: [HEAVISIDE])
    status: str | dict[str, str] = ""
    score: float | dict[str, float] = 0.0
    words: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    isolation: str = ""
    # The lab it is graded as (its file is named after the lab's folder) and whether hidden
    # checks run too.
    lab: str = "lab2"
    hidden: bool = False

    @property
    def statuses(self) -> dict[str, str]:
        if isinstance(self.status, str):
            return dict.fromkeys(self.exercises, self.status)
        return self.status

    @property
    def scores(self) -> dict[str, float]:
        if isinstance(self.score, float):
            return dict.fromkeys(self.exercises, self.score)
        return self.score

    def check(self, result: LabResult) -> None:
        """``result`` is exactly what this attack must get."""
        messages = {e.id: e.message for e in result.exercises}
        assert {e.id: e.status.value for e in result.exercises} == self.statuses, messages
        assert {e.id: e.score for e in result.exercises} == self.scores, messages
        said = " ".join([*messages.values(), *result.notes])
        for word in self.words:
            assert word in said, f"{word!r} not in {said!r}"


def _tables() -> list[Path]:
    """cases.toml and the topical tables beside it (cases_<topic>.toml)."""
    return sorted(ATTACKS_DIR.glob("cases*.toml"))


def _load() -> dict[str, Attack]:
    attacks: dict[str, Attack] = {}
    for table in _tables():
        for row in tomllib.loads(table.read_text(encoding="utf-8"))["attack"]:
            assert row["name"] not in attacks, f"{table.name}: {row['name']} twice"
            attacks[row["name"]] = Attack(**row)
    return attacks


# Lab ids to their folders' names: an attack's file is named as a student's would be.
LAB_FOLDERS = {
    tomllib.loads(path.read_text(encoding="utf-8"))["id"]: path.parent.name
    for path in (ROOT / "autograder").glob("*/lab.toml")
}


ATTACKS = _load()
CHECKED = sorted(name for name, attack in ATTACKS.items() if not attack.archive)


def test_the_table_is_whole() -> None:
    """Every attack file is in the table and every row names a file or archive that exists."""
    files = {a.file for a in ATTACKS.values() if a.file and not a.folder}
    folders = {a.folder for a in ATTACKS.values() if a.folder}
    on_disk = {p.name for p in ATTACKS_DIR.iterdir() if p not in _tables()}
    assert on_disk == files | folders
    assert all(a.file or a.archive for a in ATTACKS.values())
    assert all(bool(a.unreadable) != bool(a.status) for a in ATTACKS.values())
    assert len(ATTACKS) >= 30


# -- preparing and running an attack --------------------------------------------------------------
def _needs(attack: Attack) -> None:
    if attack.isolation == "bubblewrap" and bubblewrap_problem() is not None:
        pytest.skip(f"the defence is bubblewrap's, unavailable here: {bubblewrap_problem()}")


def _settings(attack: Attack) -> Any:
    update: dict[str, Any] = {"include_hidden": attack.hidden}
    if attack.isolation == "bubblewrap":
        update["isolation"] = "bubblewrap"
    return SETTINGS.model_copy(update=update)


def new_marker() -> str:
    """A process name for one test's attacks (at most 15 characters, as Linux keeps)."""
    return f"dgadv-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Fill:
    """What the placeholders of attack files become: the repository, the port of a server
    the test runs, and the name that processes an attack starts give themselves."""

    port: int = 9
    marker: str = field(default_factory=new_marker)

    def text(self, source: Path) -> bytes:
        return (
            source.read_bytes()
            .replace(b"@ROOT@", str(ROOT).encode())
            .replace(b"@PORT@", str(self.port).encode())
            .replace(b"@MARKER@", self.marker.encode())
        )


def place(attack: Attack, folder: Path, fill: Fill) -> Path:
    """Write the attack's files into ``folder`` as a Lab 2 submission; the file to grade."""
    folder.mkdir(parents=True, exist_ok=True)
    if attack.folder:
        # Nested folders too: an attack may ship a whole autograder/ folder.
        source = ATTACKS_DIR / attack.folder
        for item in sorted(source.rglob("*")):
            target = folder / item.relative_to(source)
            if item.is_dir():
                target.mkdir(exist_ok=True)
            else:
                target.write_bytes(fill.text(item))
        return folder / attack.file
    source = ATTACKS_DIR / attack.file
    target = folder / f"{LAB_FOLDERS[attack.lab]}{source.suffix}"
    target.write_bytes(fill.text(source))
    return target


def build_archive(kind: str, path: Path) -> Path:
    """The zip archive of an ``archive`` attack, made here: its dangers are not kept in the repo."""
    solution = LAB2_SOLUTION.read_text(encoding="utf-8")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if kind == "traversal":
            archive.writestr("lab2_activations.py", solution)
            archive.writestr("../escaped.py", "import os\nos._exit(0)\n")
        elif kind == "symlink":
            link = zipfile.ZipInfo("lab2_activations.py")
            link.external_attr = (0o120777 << 16) | 0x20
            archive.writestr(link, str(ROOT / "solutions/lab2_activations/lab2_activations.py"))
        elif kind == "bomb":
            # 101 MiB of zeros, compressed to about 100 kB.
            with archive.open("lab2_activations.py", "w", force_zip64=True) as member:
                zeros = b"\0" * (1 << 20)
                for _ in range(101):
                    member.write(zeros)
        elif kind == "shadow_torch":
            for item in (ATTACKS_DIR / "shadow_torch").iterdir():
                archive.write(item, f"work/{item.name}")
        else:
            raise ValueError(kind)
    return path


def leftovers(marker: str) -> list[str]:
    """Live processes that an attack started (they name themselves ``marker``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, state = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2]
        if name == marker and state not in "ZX":
            found.append(f"{stat.parent.name} {name}")
    return found


def assert_no_leftovers(marker: str) -> None:
    deadline = time.monotonic() + 5.0
    while leftovers(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(marker) == []


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
    _needs(attack)
    port, received = listener
    fill = Fill(port)
    path = place(attack, tmp_path / name, fill)
    grade = {"lab": attack.lab, "exercises": attack.exercises, "device": "cpu"}
    if attack.unreadable:
        with pytest.raises(SubmissionError) as refused:
            grade_submission(path, settings=_settings(attack), **grade)
        for word in attack.unreadable:
            assert word in str(refused.value)
        return
    result = grade_submission(path, settings=_settings(attack), **grade)
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
    assert document["exercises"][0] | {"message": ""} == {
        "id": HEAVISIDE,
        "status": attack.status,
        "score": attack.score,
        "max_score": 1.0,
        "message": "",
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
# A known mistake: heaviside(0) = 0. Forward at 0 fails; random inputs and backward pass.
STRICT_STEP = [("        return (x >= 0).to(x.dtype)", "        return (x > 0).to(x.dtype)")]


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
    from deepgrade.submissions import extract_archive

    archive = build_archive("traversal", tmp_path / "evil.zip")
    target = tmp_path / "inside" / "deeper"
    target.mkdir(parents=True)
    with pytest.raises(SubmissionError):
        extract_archive(archive, target)
    assert not (tmp_path / "inside" / "escaped.py").exists()
