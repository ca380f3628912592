"""Fixtures; what they build on is in tests/helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from deepgrade.engine.grading import grade_submission
from deepgrade.model.results import LabResult
from tests.helpers import FAST, Grader, ToyCourse

# The suite replays the same examples on every run, so that what one run of a fuzzer happens to
# find never fails CI at random; `HYPOTHESIS_PROFILE=fuzz` searches afresh, with many more
# examples (see docs/security.md), and what it finds becomes a fixed test.
settings.register_profile(
    "suite",
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", settings.get_profile("suite"), max_examples=4000, derandomize=False
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


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
