"""Shared fixtures: paths of the bundled course and quick grader settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deepgrade.engine.grading import grade_submission
from deepgrade.model.results import ExerciseResult, LabResult
from deepgrade.settings import GraderSettings

ROOT = Path(__file__).resolve().parents[1]
LAB2_SOLUTION = ROOT / "solutions" / "lab2_activations" / "lab2_activations.py"
LAB2_SOLUTION_NB = ROOT / "solutions" / "lab2_activations" / "lab2_activations.ipynb"
LAB2_STUB = ROOT / "exercises" / "lab2_activations" / "lab2_activations.py"
LAB2_STUB_NB = ROOT / "exercises" / "lab2_activations" / "lab2_activations.ipynb"

# Limits short enough that hanging submissions stay quick, long enough for a loaded CI machine.
FAST = GraderSettings(exercise_timeout=10.0, cell_timeout=10.0, submission_timeout=300.0)

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


class ToyCourse:
    """A course of one small lab written by a test: ``autograder/<folder>/`` under a tmp dir."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def lab(
        self,
        lab_toml: str,
        *,
        hidden: str | None = None,
        references: str | None = None,
        folder: str = "toy",
    ) -> Path:
        """Write the lab's files; its folder."""
        lab = self.root / "autograder" / folder
        lab.mkdir(parents=True, exist_ok=True)
        (lab / "lab.toml").write_text(lab_toml, encoding="utf-8")
        for name, text in (("hidden.toml", hidden), ("references.py", references)):
            if text is not None:
                (lab / name).write_text(text, encoding="utf-8")
        return lab

    def grade(self, source: str, name: str = "toy.py", **kwargs: Any) -> LabResult:
        """Grade ``source`` (a module named ``name``) against this course's labs."""
        path = self.root / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        settings = FAST.model_copy(update={"autograder_dir": self.root / "autograder"})
        kwargs.setdefault("device", "cpu")
        return grade_submission(path, settings=settings, **kwargs)


@pytest.fixture
def toy_lab(tmp_path: Path) -> ToyCourse:
    """A course to write a small lab into, instead of inline TOML in every test file."""
    return ToyCourse(tmp_path / "course")
