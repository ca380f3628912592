"""The grade command: JSON output, exit codes and errors without tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.sandbox.templates import WorkerTemplate
from deepgrade.staff import batch
from tests.helpers import LAB2_SOLUTION_NB, LAB2_STUB_NB, OWN_CODE, RENAMED, ROOT, SOLUTION

pytestmark = pytest.mark.lab2


def grade(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deepgrade", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        check=False,
    )


CHECK_KEYS = {"name", "passed", "score", "max_score", "hidden", "message"}


def test_json_is_exactly_the_course_object() -> None:
    run = grade("check", str(LAB2_SOLUTION_NB), "--json", "--device", "cpu")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert set(data) == {"lab", "score", "max_score", "exercises"}
    assert (data["lab"], data["score"], data["max_score"]) == ("lab2", 20.0, 20.0)
    assert all(
        set(e) == {"id", "status", "score", "max_score", "message", "checks"}
        for e in data["exercises"]
    )
    assert [e["id"] for e in data["exercises"]][:2] == ["lab2.sigmoid", "lab2.tanh"]
    for entry in data["exercises"]:
        assert entry["checks"], entry["id"]
        assert all(set(c) == CHECK_KEYS and c["passed"] for c in entry["checks"])
        # Exact shares: 9 checks of 2 points are 2/9 each, not 0.22.
        assert sum(c["score"] for c in entry["checks"]) == pytest.approx(entry["score"])
        assert sum(c["max_score"] for c in entry["checks"]) == pytest.approx(entry["max_score"])
    checks = [c for e in data["exercises"] for c in e["checks"]]
    assert any(c["hidden"] for c in checks) and not all(c["hidden"] for c in checks)


def test_failures_exit_1_and_one_exercise_can_be_chosen() -> None:
    run = grade("check", str(LAB2_STUB_NB), "--exercise", "lab2.relu", "--json", "--device", "cpu")
    assert run.returncode == 1
    data = json.loads(run.stdout)
    assert [(e["id"], e["status"]) for e in data["exercises"]] == [("lab2.relu", "not_implemented")]
    checks = data["exercises"][0]["checks"]
    assert checks and all(not c["passed"] and c["score"] == 0 for c in checks)


def test_table_explains_failures() -> None:
    run = grade("check", str(LAB2_STUB_NB), "--exercise", "sigmoid", "--device", "cpu")
    assert run.returncode == 1
    assert "lab2.sigmoid" in run.stdout
    assert "Lab 2: implement Sigmoid.forward" in run.stdout


def test_an_untouched_lab_says_so_once_per_exercise_and_isolation_once() -> None:
    run = grade("check", str(LAB2_STUB_NB), "--device", "cpu")
    assert run.returncode == 1
    exercises = run.stdout.count("│ lab2.")  # the table's rows
    assert exercises >= 10
    assert run.stdout.count("not implemented yet") == exercises
    assert run.stdout.count("isolation:") == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["check", "no/such/file.ipynb"], 2, "Error: no such file: no/such/file.ipynb"),
        (["check", str(LAB2_SOLUTION_NB), "--lab", "lab99"], 2, "Error: unknown lab 'lab99'"),
        (["check", str(LAB2_SOLUTION_NB), "--exercise", "nope"], 2, "has no exercise 'nope'"),
        (["check", str(LAB2_SOLUTION_NB), "--device", "tpu"], 2, "Error: unknown device 'tpu'"),
    ],
)
def test_errors_are_one_line_without_traceback(args: list[str], code: int, message: str) -> None:
    run = grade(*args)
    assert run.returncode == code
    assert message in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("name", "content", "code", "message"),
    [
        ("lab2_activations.ipynb", "{not json", 2, "is not a valid notebook"),
        ("homework.py", "x = 1\n", 2, "cannot tell which lab this is: pass --lab"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: str, code: int, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    run = grade("check", str(path))
    assert run.returncode == code
    assert message in run.stderr
    assert "Traceback" not in run.stderr


# What a command is given, as templates of {names} that the fixture below creates.
USAGE_ERRORS = [
    (["check", "{tmp}/no/such.ipynb"], "Error: no such file: {tmp}/no/such.ipynb"),
    (["check", "{tmp}/folder.ipynb"], "Error: {tmp}/folder.ipynb is a folder"),
    (["check", "{tmp}/lab2.txt"], "expected a notebook (.ipynb) or a Python module (.py)"),
    (["check", "{solution}", "--lab", "lab99"], "Error: unknown lab 'lab99' (known labs: lab1,"),
    (["check", "{solution}", "--exercise", "lab2.nope"], "lab lab2 has no exercise 'lab2.nope'"),
    (
        ["check", "{tmp}/lab3.ipynb", "--lab", "lab2"],
        "Error: {tmp}/lab3.ipynb is a notebook of lab3 (its metadata says so), not of lab2",
    ),
    (["check", "{tmp}/broken.ipynb"], "broken.ipynb is not a valid notebook: it does not appear"),
    (["check", "{tmp}/list.ipynb"], "list.ipynb is not a valid notebook: it is JSON, but not a"),
    (["check", "{solution}", "--device", "gpu"], "Error: unknown device 'gpu'; use cpu, cuda,"),
    (["batch", "{tmp}/nowhere", "--lab", "lab2"], "Error: no such folder of submissions"),
    (["batch", "{tmp}/class", "--lab", "lab99"], "Error: unknown lab 'lab99'"),
    (["batch", "{tmp}/class", "--lab", "lab2", "--exercise", "nope"], "has no exercise 'nope'"),
]


@pytest.fixture
def usage_files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "folder.ipynb").mkdir()
    (tmp_path / "lab2.txt").write_text("x = 1\n", encoding="utf-8")
    notebook = json.loads(LAB2_SOLUTION_NB.read_text(encoding="utf-8"))
    notebook["metadata"]["deepgrade"] = {"lab": "lab3"}
    (tmp_path / "lab3.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    (tmp_path / "broken.ipynb").write_text("{not json", encoding="utf-8")
    (tmp_path / "list.ipynb").write_text("[1, 2]", encoding="utf-8")
    (tmp_path / "class").mkdir()
    shutil.copy(LAB2_SOLUTION_NB, tmp_path / "class" / "alice.ipynb")
    return {"tmp": str(tmp_path), "solution": str(LAB2_SOLUTION_NB)}


@pytest.mark.parametrize(
    ("args", "message"), USAGE_ERRORS, ids=[" ".join(args) for args, _ in USAGE_ERRORS]
)
def test_usage_errors_exit_2_before_any_worker_starts(
    args: list[str], message: str, usage_files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []

    def start(what: str) -> Callable[..., Any]:
        def refuse(*args: object, **kwargs: object) -> Any:
            started.append(what)
            raise RuntimeError(f"{what} started")

        return refuse

    # A worker template is where every worker comes from; a batch's graders start theirs.
    monkeypatch.setattr(WorkerTemplate, "launch", start("a worker template"))
    monkeypatch.setattr(batch, "open_executor", start("a batch's graders"))
    out = usage_files["tmp"] + "/out"
    command = [a.format(**usage_files) for a in args] + (["--out", out] * (args[0] == "batch"))
    began = time.monotonic()
    result = CliRunner().invoke(main, command)
    elapsed = time.monotonic() - began
    assert result.exit_code == 2, result.output
    assert message.format(**usage_files) in result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert started == []
    # Measured at 0.01 to 0.1 s; loosely bounded, a worker template alone takes seconds.
    assert elapsed < 2.0


def test_a_usage_error_is_said_without_importing_pytorch() -> None:
    """What makes it quick: PyTorch (seconds to import) is never imported."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('torch' in sys.modules, file=sys.stderr))\n"
        "from deepgrade.cli import main\n"
        "main()\n"
    )
    for args in (
        ["check", str(LAB2_SOLUTION_NB), "--exercise", "lab2.nope"],
        ["batch", str(ROOT / "examples" / "class"), "--lab", "lab2", "--exercise", "nope",
         "--out", "unused"],
    ):  # fmt: skip
        run = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
        )
        assert run.returncode == 2, run.stderr
        error, torch_imported = run.stderr.splitlines()
        assert error.startswith("Error: ") and "has no exercise" in error
        assert torch_imported == "False"


def test_help_is_quick_to_reach() -> None:
    run = grade("--help")
    assert run.returncode == 0
    assert "check" in run.stdout


def test_similarity_writes_its_report_and_names_the_pairs(tmp_path: Path) -> None:
    """The command over the API (tests/staff/test_similarity.py tests the comparison)."""
    folder = tmp_path / "class"
    folder.mkdir()
    for student, source in {"amy": OWN_CODE, "ben": RENAMED, "lena": SOLUTION}.items():
        (folder / f"{student}.py").write_text(source, encoding="utf-8")
    out = tmp_path / "out"
    command = ["similarity", str(folder), "--lab", "lab2", "--out", str(out)]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert "3 submissions compared, 0 unreadable; flagged pairs: 1" in result.stdout
    assert "  amy ben: 100% shared (lab2.softmax)" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["similarity.html", "similarity.json"]
    unknown = CliRunner().invoke(main, [*command[:3], "lab99", *command[4:]])
    assert unknown.exit_code == 2 and unknown.stderr.startswith("Error: unknown lab 'lab99'")
