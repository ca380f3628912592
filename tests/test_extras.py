"""The student package and the staff extra: what ``pip install deepgrade`` must be enough for,
and what a staff command says without the extra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deepgrade.engine.loader import load_submission
from deepgrade.extras import STAFF_MODULES
from tests.helpers import (
    LAB2_SOLUTION,
    LAB2_SOLUTION_NB,
    ROOT,
    STAFF_BLOCKER,
    STAFF_ONLY,
    student_venv,
)

CHECK_CALL = 'from deepgrade.notebook import check\n\ncheck("lab2.sigmoid")\n'
MISSING_STAFF = 'needs the staff extra: pip install "deepgrade[staff]"'


def run_blocked(code: str, *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter where the staff extra's modules cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", STAFF_BLOCKER + code],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def test_the_blocker_covers_every_staff_module_but_pytorchs_jinja2() -> None:
    assert set(STAFF_MODULES) - set(STAFF_ONLY) == {"jinja2"}


def test_student_code_paths_import_no_staff_module() -> None:
    """Everything ``grade check``, a notebook's check cell and the exported autograders'
    entry points import, short of grading."""
    code = f"""
from pathlib import Path
import deepgrade, deepgrade.cli, deepgrade.notebook, deepgrade.testcell
import deepgrade.platforms.gradescope, deepgrade.platforms.prairielearn
import deepgrade.engine.grading, deepgrade.reports.terminal, deepgrade.sandbox.templates
from deepgrade.engine.loader import load_submission
for path in [{str(LAB2_SOLUTION)!r}, {str(LAB2_SOLUTION_NB)!r}]:
    assert load_submission(Path(path)).cells
assert deepgrade.check is deepgrade.notebook.check
print(sorted(m for m in sys.modules if m.partition(".")[0] in {STAFF_ONLY!r} + ("jinja2",)))
"""
    run = run_blocked(code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ["release", "lab2", "--to", "handout"],
        ["batch", "submitted", "--lab", "lab2", "--out", "out"],
        ["similarity", "submitted", "--lab", "lab2", "--out", "out"],
        ["grades", "--course", "course.toml", "--out", "out"],
        ["build", "lab2"],
        ["new-lab", "lab8", "--title", "Convolutions"],
        ["export", "gradescope", "lab2", "--out", "out"],
        ["export", "prairielearn", "lab2", "--out", "out"],
    ],
)
def test_a_staff_command_without_the_extra_says_what_to_install(
    tmp_path: Path, args: list[str]
) -> None:
    code = f"from deepgrade.cli import main\nmain({args!r}, prog_name='grade')"
    run = run_blocked(code, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr == f"Error: grade {args[0]} {MISSING_STAFF}\n"
    assert run.stdout == ""


def test_the_staff_api_without_the_extra_raises_what_to_install() -> None:
    code = """
from deepgrade.errors import MissingExtraError
try:
    from deepgrade import release_lab
except MissingExtraError as exc:
    print(exc.extra, exc)
"""
    run = run_blocked(code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"staff deepgrade.staff {MISSING_STAFF} (missing: nbformat, ")


@pytest.mark.slow
@pytest.mark.lab2
def test_the_student_package_alone_grades_a_released_lab(tmp_path: Path) -> None:
    """A fresh environment with the core requirements only (offline): the notebook package
    imports, a released Lab 2 filled with the solution gets full marks on its public checks
    from ``grade check`` and from a check cell's ``check()``, and ``grade release`` says which
    extra it needs."""
    python = student_venv(tmp_path)
    grade = python.parent / "grade"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DEEPGRADE_ISOLATION": "limits",
        "DEEPGRADE_ALLOW_LIMITS_ONLY": "1",
    }

    def run(*command: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        """A command of the student environment."""
        return subprocess.run(
            [str(c) for c in command],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    probe = run(
        python, "-c", "import deepgrade, deepgrade.notebook, sklearn; print(deepgrade.__file__)"
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).is_relative_to(tmp_path)
    for module in STAFF_ONLY:
        absent = subprocess.run([python, "-c", f"import {module}"], env=env, check=False)
        assert absent.returncode == 1, f"{module} is importable in the student environment"

    handout = tmp_path / "handout"
    released = subprocess.run(
        [sys.executable, "-m", "deepgrade", "release", "lab2", "--to", str(handout)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert released.returncode == 0, released.stderr
    notebook_path = handout / "lab2_activations" / "lab2_activations.ipynb"
    notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    solution = json.loads(LAB2_SOLUTION_NB.read_text(encoding="utf-8"))
    answers = {
        cell["metadata"]["nbgrader"]["grade_id"]: cell["source"]
        for cell in solution["cells"]
        if cell["metadata"].get("nbgrader", {}).get("solution")
    }
    filled = 0
    for cell in notebook["cells"]:
        nbgrader = cell["metadata"].get("nbgrader", {})
        if nbgrader.get("solution"):
            cell["source"] = answers[nbgrader["grade_id"]]
            filled += 1
    assert filled == len(answers) > 0
    # The notebook alone, renamed as a browser names a second download: it carries its checks.
    notebook_path = tmp_path / "alone" / "lab2_activations (1).ipynb"
    notebook_path.parent.mkdir()
    notebook_path.write_text(json.dumps(notebook), encoding="utf-8")

    checked = run(
        grade, "check", notebook_path.name, "--json", "--device", "cpu", cwd=notebook_path.parent
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = json.loads(checked.stdout)
    assert (result["lab"], result["score"]) == ("lab2", result["max_score"])
    assert all(exercise["status"] == "passed" for exercise in result["exercises"])

    # A check cell's call, outside a kernel: check() grades the running script, with the checks
    # of the released notebook beside it.
    code = [s for s in load_submission(LAB2_SOLUTION).sources if "deepgrade" not in s]
    script = notebook_path.parent / "work.py"
    script.write_text("\n\n".join([*code, CHECK_CALL]), encoding="utf-8")
    checked_cell = run(python, script.name, cwd=script.parent)
    assert checked_cell.returncode == 0, checked_cell.stdout + checked_cell.stderr
    assert "lab2.sigmoid" in checked_cell.stdout and "passed" in checked_cell.stdout

    refused = run(grade, "release", "lab2", "--to", tmp_path / "again")
    assert (refused.returncode, refused.stderr) == (2, f"Error: grade release {MISSING_STAFF}\n")
    assert not (tmp_path / "again").exists()
