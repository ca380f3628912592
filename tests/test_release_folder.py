"""``grade check`` in a student release folder: public checks only, found next to the notebook."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deepgrade.grading import grade_submission

from .conftest import FAST, LAB2_SOLUTION, ROOT

pytestmark = pytest.mark.lab2


def test_public_checks_are_found_in_a_release_folder(tmp_path: Path) -> None:
    checks = tmp_path / "autograder" / "lab2_activations"
    checks.mkdir(parents=True)
    for name in ("lab.toml", "references.py"):
        shutil.copy(ROOT / "autograder" / "lab2_activations" / name, checks / name)
    work = tmp_path / "lab2_activations.py"
    shutil.copy(LAB2_SOLUTION, work)
    result = grade_submission(work, settings=FAST, device="cpu", exercises=["lab2.sigmoid"])
    assert not result.hidden_checks_run
    sigmoid = result.exercises[0]
    assert sigmoid.score == 2.0
    assert sigmoid.checks and not any(check.hidden for check in sigmoid.checks)
