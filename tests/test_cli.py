"""The grade command: JSON output, exit codes and errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import LAB2_SOLUTION_NB, LAB2_STUB_NB

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


def test_json_is_exactly_the_course_object() -> None:
    run = grade("check", str(LAB2_SOLUTION_NB), "--json", "--device", "cpu")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert set(data) == {"lab", "score", "max_score", "exercises"}
    assert (data["lab"], data["score"], data["max_score"]) == ("lab2", 20.0, 20.0)
    assert all(
        set(e) == {"id", "status", "score", "max_score", "message"} for e in data["exercises"]
    )
    assert [e["id"] for e in data["exercises"]][:2] == ["lab2.sigmoid", "lab2.tanh"]


def test_failures_exit_1_and_one_exercise_can_be_chosen() -> None:
    run = grade("check", str(LAB2_STUB_NB), "--exercise", "lab2.relu", "--json", "--device", "cpu")
    assert run.returncode == 1
    data = json.loads(run.stdout)
    assert [(e["id"], e["status"]) for e in data["exercises"]] == [("lab2.relu", "not_implemented")]


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
        (["check", "no/such/file.ipynb"], 1, "Error: no such file: no/such/file.ipynb"),
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
        ("lab2_activations.ipynb", "{not json", 1, "is not a valid notebook"),
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


def test_help_is_quick_to_reach() -> None:
    run = grade("--help")
    assert run.returncode == 0
    assert "check" in run.stdout
