"""Shared fixtures: paths of the bundled course and quick grader settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deepgrade.grading import grade_submission
from deepgrade.scoring import ExerciseResult, LabResult
from deepgrade.settings import GraderSettings

ROOT = Path(__file__).resolve().parents[1]
LAB2_SOLUTION = ROOT / "solutions" / "lab2_activations" / "lab2_activations.py"
LAB2_SOLUTION_NB = ROOT / "solutions" / "lab2_activations" / "lab2_activations.ipynb"
LAB2_STUB = ROOT / "exercises" / "lab2_activations" / "lab2_activations.py"
LAB2_STUB_NB = ROOT / "exercises" / "lab2_activations" / "lab2_activations.ipynb"

# Limits short enough that hanging submissions stay quick, long enough for a loaded CI machine.
# Batches run on test hosts without bubblewrap too (tests/test_classes.py tests the refusal).
FAST = GraderSettings(
    exercise_timeout=10.0, cell_timeout=10.0, submission_timeout=300.0, allow_limits_only=True
)

Grader = Callable[..., LabResult]


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


def exercise(result: LabResult, exercise_id: str) -> ExerciseResult:
    return next(e for e in result.exercises if e.id == exercise_id)


def scores(result: LabResult) -> dict[str, float]:
    return {exercise.id: exercise.score for exercise in result.exercises}


def statuses(result: LabResult) -> dict[str, str]:
    return {exercise.id: exercise.status.value for exercise in result.exercises}


def patched(source: str, replacements: list[tuple[str, str]]) -> str:
    """Apply exact text replacements, failing loudly if one no longer matches."""
    for old, new in replacements:
        assert source.count(old) == 1, f"expected exactly one occurrence of {old!r}"
        source = source.replace(old, new)
    return source
