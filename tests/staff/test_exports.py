"""Gradescope and PrairieLearn exports: each unpacked into a temporary root, a correct and a
buggy Lab 2 submission graded by its entry point, results.json validated against the platform's
documented schema (written down below) and its total compared with ``grade check --json``; an
attack in Gradescope's layout proves that the workers cannot read the autograder's files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.platforms import gradescope, prairielearn
from deepgrade.platforms.hosted import grade_upload, read_config
from deepgrade.sandbox.isolation import bubblewrap_problem, unreadable_python_folders
from deepgrade.staff.exports import TORCH_VERSION, export_gradescope, export_prairielearn
from deepgrade.version import __version__
from tests.helpers import (
    ATTACKS,
    LAB2_SOLUTION,
    LAB2_SOLUTION_NB,
    Fill,
    patched,
    place,
    student_venv,
)

# -- the platforms' schemas, as their documentation states them ----------------------------------
# Gradescope, "Autograder Specifications" (results.json): a top-level score overrides the sum of
# the tests'; visibility is one of four values; a test's status is passed or failed. Required
# here: what the issue asks every deepgrade export to write.
GRADESCOPE_VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
GRADESCOPE_TEST = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "max_score": {"type": "number"},
        "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string"},
        "name_format": {"type": "string"},
        "number": {"type": "string"},
        "output": {"type": "string"},
        "output_format": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": GRADESCOPE_VISIBILITY,
        "extra_data": {"type": "object"},
    },
    "required": ["name", "score", "max_score", "status", "output", "visibility"],
    "additionalProperties": False,
}
GRADESCOPE_RESULTS = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": {"type": "string"},
        "test_output_format": {"type": "string"},
        "test_name_format": {"type": "string"},
        "visibility": GRADESCOPE_VISIBILITY,
        "stdout_visibility": GRADESCOPE_VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": GRADESCOPE_TEST},
        "leaderboard": {"type": "array"},
    },
    "required": ["score", "execution_time", "output", "stdout_visibility", "tests"],
    "additionalProperties": False,
}
# PrairieLearn, "External Grading" (Grading results): score in [0, 1], required unless the
# submission is not gradable; format_errors a string or a list of them; the tests that
# <pl-external-grader-results> renders. Required here: what the issue asks for.
PRAIRIELEARN_TEST = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "points": {"type": "number"},
        "max_points": {"type": "number"},
        "message": {"type": "string"},
        "output": {"type": "string"},
        "images": {"type": "array"},
    },
    "required": ["name", "points", "max_points", "message", "output"],
    "additionalProperties": False,
}
PRAIRIELEARN_RESULTS = {
    "type": "object",
    "properties": {
        "gradable": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "message": {"type": "string"},
        "output": {"type": "string"},
        "format_errors": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        },
        "images": {"type": "array"},
        "tests": {"type": "array", "items": PRAIRIELEARN_TEST},
    },
    "if": {"properties": {"gradable": {"const": False}}, "required": ["gradable"]},
    "then": {"required": ["format_errors"]},
    "else": {"required": ["score", "tests"]},
    "additionalProperties": False,
}

# A wrong tanh backward: some checks of lab2.tanh fail, the rest of the lab passes.
BUGGY = patched(
    LAB2_SOLUTION.read_text(encoding="utf-8"),
    [("return grad_output * (1 - y * y)", "return grad_output * (1 - y)")],
)


@dataclass(frozen=True)
class Exports:
    gradescope: Path  # hidden checks visible after publishing (the default)
    gradescope_hidden: Path  # --hidden-visibility hidden
    question: Path  # PrairieLearn's question folder


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    out = tmp_path_factory.mktemp("exports")
    return Exports(
        gradescope=export_gradescope("lab2", out / "default"),
        gradescope_hidden=export_gradescope("lab2", out / "hidden", hidden_visibility="hidden"),
        question=export_prairielearn("lab2", out / "prairielearn", image="me/deepgrade:1"),
    )


@pytest.fixture(scope="module")
def submissions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The uploads: the solution notebook, and the buggy module zipped as a student would."""
    folder = tmp_path_factory.mktemp("uploads")
    module = folder / "lab2_activations.py"
    module.write_text(BUGGY, encoding="utf-8")
    archive = folder / "my-work.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(module, "work/lab2_activations.py")
    return {"correct": LAB2_SOLUTION_NB, "buggy": archive, "buggy_module": module}


@pytest.fixture(scope="module")
def checked(submissions: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """``grade check --json`` of the same files, with the bundled course's checks."""
    found = {}
    for name in ("correct", "buggy_module"):
        args = ["check", str(submissions[name]), "--json", "--device", "cpu"]
        done = CliRunner().invoke(main, args)
        assert done.exit_code in (0, 1), done.output
        found[name] = json.loads(done.stdout)
    assert found["correct"]["score"] == 20.0
    assert 0 < found["buggy_module"]["score"] < 20.0
    return found


def unpack(archive: Path, folder: Path) -> None:
    """Unzip keeping each member's mode, as Gradescope's unzip does."""
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            path = Path(zipped.extract(member, folder))
            path.chmod((member.external_attr >> 16) & 0o777)


def gradescope_root(archive: Path, root: Path, upload: Path) -> Path:
    """Gradescope's layout under ``root``: source/ (the zip), run_autograder copied beside it,
    the upload in submission/ and an empty results/."""
    unpack(archive, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    shutil.copy(upload, root / "submission" / upload.name)
    (root / "results").mkdir()
    return root


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"DEEPGRADE_PYTHON": sys.executable} | env
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


def run_autograder(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # DEEPGRADE_ALLOW_LIMITS_ONLY: hosts without bubblewrap grade these trusted files too.
    env = {"AUTOGRADER_ROOT": str(root), "DEEPGRADE_ALLOW_LIMITS_ONLY": "1"} | env
    return run([str(root / "run_autograder")], env)


def test_the_gradescope_zip_holds_setup_run_autograder_and_every_check(exports: Exports) -> None:
    with zipfile.ZipFile(exports.gradescope) as zipped:
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in zipped.infolist()}
        setup = zipped.read("setup.sh").decode()
        config = json.loads(zipped.read("deepgrade.json"))
    assert exports.gradescope.name == "lab2-autograder.zip"
    assert modes == {
        "setup.sh": 0o755,
        "run_autograder": 0o755,
        "deepgrade.json": 0o644,
        "autograder/lab2_activations/lab.toml": 0o644,
        "autograder/lab2_activations/hidden.toml": 0o644,
        "autograder/lab2_activations/references.py": 0o644,
    }
    assert config == {
        "lab": "lab2",
        "deepgrade": __version__,
        "hidden_visibility": "after_published",
    }
    # Pinned versions, the CPU build, and a Python outside /autograder (closed to workers).
    assert f"torch=={TORCH_VERSION} --index-url https://download.pytorch.org/whl/cpu" in setup
    assert f"deepgrade=={__version__}" in setup
    assert "python3.11 -m venv /opt/deepgrade" in setup


def test_the_prairielearn_question_has_an_external_grader(exports: Exports) -> None:
    info = json.loads((exports.question / "info.json").read_text(encoding="utf-8"))
    assert exports.question.name == "lab2_activations"
    assert info["gradingMethod"] == "External"
    assert info["externalGradingOptions"] == {
        "enabled": True,
        "image": "me/deepgrade:1",
        "entrypoint": "/grade/tests/run.sh",
        "timeout": 600,
    }
    assert info["type"] == "v3" and info["title"].startswith("lab2: ")
    html = (exports.question / "question.html").read_text(encoding="utf-8")
    assert "<pl-file-upload" in html and "<pl-external-grader-results>" in html
    tests = exports.question / "tests"
    assert sorted(p.relative_to(tests).as_posix() for p in tests.rglob("*") if p.is_file()) == [
        "autograder/lab2_activations/hidden.toml",
        "autograder/lab2_activations/lab.toml",
        "autograder/lab2_activations/references.py",
        "deepgrade.json",
        "run.sh",
    ]
    dockerfile = (exports.question.parent / "deepgrade-image" / "Dockerfile").read_text()
    assert f"deepgrade=={__version__}" in dockerfile and f"torch=={TORCH_VERSION}" in dockerfile


def test_an_export_again_keeps_the_question_uuid_and_needs_force(
    exports: Exports, tmp_path: Path
) -> None:
    first = json.loads((exports.question / "info.json").read_text(encoding="utf-8"))
    runner = CliRunner()
    args = ["export", "prairielearn", "lab2", "--out", str(tmp_path)]
    assert runner.invoke(main, args).exit_code == 0
    again = runner.invoke(main, args)
    assert again.exit_code == 2 and "--force" in again.output
    assert runner.invoke(main, [*args, "--force"]).exit_code == 0
    second = json.loads((tmp_path / "lab2_activations" / "info.json").read_text(encoding="utf-8"))
    assert second["uuid"] == first["uuid"]
    done = runner.invoke(main, ["export", "gradescope", "lab2", "--out", str(tmp_path)])
    assert done.exit_code == 0 and (tmp_path / "lab2-autograder.zip").is_file()


def test_an_upload_that_cannot_be_graded_says_why(
    exports: Exports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPGRADE_ALLOW_LIMITS_ONLY", "1")
    source = exports.question / "tests"
    (tmp_path / "notes.txt").write_text("no notebook", encoding="utf-8")
    graded = grade_upload(tmp_path, source, read_config(source))
    assert graded.result is None and "no notebook or module" in graded.problem
    found = prairielearn.results(graded, read_config(source))
    jsonschema.validate(found, PRAIRIELEARN_RESULTS)
    assert found["gradable"] is False
    found = gradescope.results(graded, read_config(source))
    jsonschema.validate(found, GRADESCOPE_RESULTS)
    assert found["score"] == 0.0 and found["tests"] == []
    assert "could not be graded" in found["output"]


@pytest.mark.slow
@pytest.mark.lab2
@pytest.mark.parametrize("name", ["correct", "buggy"])
def test_gradescope_grades_as_grade_check(
    name: str,
    exports: Exports,
    submissions: dict[str, Path],
    checked: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    # The buggy one with the hidden checks' lines hidden for good.
    archive = exports.gradescope if name == "correct" else exports.gradescope_hidden
    root = gradescope_root(archive, tmp_path / "autograder", submissions[name])
    env = {}
    if name == "correct":
        # What setup.sh installs, the student package without the staff extra, is enough. Its
        # environment links out of itself, which bubblewrap would not show the workers.
        env = {
            "PATH": "/usr/bin:/bin",
            "DEEPGRADE_PYTHON": str(student_venv(tmp_path)),
            "DEEPGRADE_ISOLATION": "limits",
        }
    done = run_autograder(root, **env)
    assert done.returncode == 0, done.stderr
    found = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(found, GRADESCOPE_RESULTS)
    expected = checked["correct" if name == "correct" else "buggy_module"]
    assert found["score"] == pytest.approx(expected["score"], abs=1e-9)
    assert sum(t["score"] for t in found["tests"]) == pytest.approx(found["score"], abs=1e-6)
    assert sum(t["max_score"] for t in found["tests"]) == pytest.approx(20.0, abs=1e-6)
    checks = [c for e in expected["exercises"] for c in e["checks"]]
    assert len(found["tests"]) == len(checks)
    hidden = [t for t in found["tests"] if "[hidden]" in t["name"]]
    assert len(hidden) == sum(c["hidden"] for c in checks) > 0
    visibility = "after_published" if name == "correct" else "hidden"
    assert {t["visibility"] for t in hidden} == {visibility}
    # A hidden check says its status only.
    assert {t["output"] for t in hidden} <= {"passed", "failed"}
    failed = {t["name"].split(":")[0] for t in found["tests"] if t["status"] == "failed"}
    assert failed == (set() if name == "correct" else {"lab2.tanh"})
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


@pytest.mark.slow
@pytest.mark.lab2
@pytest.mark.parametrize("name", ["correct", "buggy_module"])
def test_prairielearn_grades_as_grade_check(
    name: str,
    exports: Exports,
    submissions: dict[str, Path],
    checked: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    root = tmp_path / "grade"
    shutil.copytree(exports.question / "tests", root / "tests")
    (root / "student").mkdir()
    shutil.copy(submissions[name], root / "student")
    env = {"GRADE_ROOT": str(root), "DEEPGRADE_ALLOW_LIMITS_ONLY": "1"}
    done = run([str(root / "tests" / "run.sh")], env)
    assert done.returncode == 0, done.stderr
    found = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(found, PRAIRIELEARN_RESULTS)
    assert found["gradable"] is True
    assert found["score"] == pytest.approx(checked[name]["score"] / 20.0, abs=1e-9)
    assert sum(t["points"] for t in found["tests"]) == pytest.approx(checked[name]["score"])
    assert sum(t["max_points"] for t in found["tests"]) == pytest.approx(20.0)


# -- the workers cannot read the autograder's files ----------------------------------------------
@pytest.fixture
def open_root() -> Iterator[Path]:
    """A root that anyone may enter, as Gradescope's /autograder (pytest's own folders are
    private, which would hide what this test is about)."""
    root = Path(tempfile.mkdtemp(prefix="deepgrade-gradescope-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root)


def readable_by_anyone(path: Path) -> bool:
    folders = [path.parent, *path.parent.parents]
    return bool(path.stat().st_mode & stat.S_IROTH) and all(
        folder.stat().st_mode & stat.S_IXOTH for folder in folders
    )


@pytest.mark.slow
@pytest.mark.lab2
@pytest.mark.parametrize("isolation", ["bubblewrap", "limits"])
def test_a_submission_cannot_read_the_autograders_files(
    isolation: str, exports: Exports, open_root: Path
) -> None:
    if isolation == "bubblewrap" and bubblewrap_problem() is not None:
        pytest.skip(f"bubblewrap cannot isolate workers here: {bubblewrap_problem()}")
    if isolation == "limits":
        # Gradescope's case without user namespaces: a root grader's workers run as a user
        # of their own, which that user's permissions alone keep from the files.
        if os.geteuid() != 0:
            pytest.skip("only a root grader gives its workers a user of their own")
        if unreadable_python_folders():
            pytest.skip(f"others cannot read {unreadable_python_folders()}: workers stay root")
    attack = ATTACKS["read_autograder"]
    fill = Fill(autograder=open_root)
    upload = place(attack, open_root / "upload", fill)
    root = gradescope_root(exports.gradescope, open_root, upload)
    checks = root / "source" / "autograder" / "lab2_activations"
    # Before grading, every target is readable by anyone: only the autograder closes them.
    for target in (checks / "hidden.toml", checks / "references.py", root / "source"):
        assert readable_by_anyone(target), target
    done = run_autograder(root, DEEPGRADE_ISOLATION=isolation)
    assert done.returncode == 0, done.stderr
    found = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    outputs = " ".join(t["output"] for t in found["tests"])
    attempts = json.loads(re.findall(r"found (\{[^}]*\})", outputs)[0])
    refused = "FileNotFoundError" if isolation == "bubblewrap" else "PermissionError"
    assert attempts == dict.fromkeys(
        ["checks", "config", "list_results", "references", "write_results"], refused
    )
    assert found["score"] == 0.0


def test_the_autograder_refuses_workers_that_could_read_the_checks(
    exports: Exports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() == 0 and not unreadable_python_folders():
        pytest.skip("a root grader whose workers can read Python gives them a user of their own")
    monkeypatch.delenv("DEEPGRADE_ALLOW_LIMITS_ONLY", raising=False)
    root = gradescope_root(exports.gradescope, tmp_path / "autograder", LAB2_SOLUTION_NB)
    env = {"AUTOGRADER_ROOT": str(root), "DEEPGRADE_ISOLATION": "limits"}
    done = run([str(root / "run_autograder")], env)
    assert done.returncode == 1
    assert "a submission could read the checks" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / "results" / "results.json").exists()
