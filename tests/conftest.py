"""Fixtures; what they build on is in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepgrade.engine.grading import grade_submission
from deepgrade.model.results import LabResult
from tests.helpers import FAST, Grader, ToyCourse


@pytest.fixture
def grade_text(tmp_path: Path) -> Grader:
    """Grade source text written as ``lab2_activations.py`` (or another name) in a tmp dir."""

    def grade(text: str, name: str = "lab2_activations.py", **kwargs: object) -> LabResult:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        kwargs.setdefault("settings", FAST)
        kwargs.setdefault("device", "cpu")
        return grade_submission(path, **kwargs)  # type: ignore[arg-type]

    return grade


@pytest.fixture
def toy_lab(tmp_path: Path) -> ToyCourse:
    """A course to write a small lab into, instead of inline TOML in every test file."""
    return ToyCourse(tmp_path / "course")
