"""deepgrade: automated grading and exercises for introductory deep-learning courses.

The public API is re-exported here and imported lazily, so that ``grade --help`` and the
worker processes do not pay for what they do not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loguru import logger

# A library stays quiet unless its application asks: the CLI enables these logs.
logger.disable("deepgrade")

if TYPE_CHECKING:
    from deepgrade.errors import (
        DeepgradeError,
        GraderError,
        SpecError,
        SubmissionError,
        UsageError,
    )
    from deepgrade.grading import grade_cells, grade_submission
    from deepgrade.loader import Submission, load_submission
    from deepgrade.scoring import CheckResult, ExerciseResult, LabResult, Status
    from deepgrade.settings import GraderSettings
    from deepgrade.spec import ExerciseSpec, LabSpec, load_lab

__version__ = "0.1.0"

_EXPORTS = {
    "DeepgradeError": "deepgrade.errors",
    "GraderError": "deepgrade.errors",
    "SpecError": "deepgrade.errors",
    "SubmissionError": "deepgrade.errors",
    "UsageError": "deepgrade.errors",
    "grade_cells": "deepgrade.grading",
    "grade_submission": "deepgrade.grading",
    "Submission": "deepgrade.loader",
    "load_submission": "deepgrade.loader",
    "CheckResult": "deepgrade.scoring",
    "ExerciseResult": "deepgrade.scoring",
    "LabResult": "deepgrade.scoring",
    "Status": "deepgrade.scoring",
    "GraderSettings": "deepgrade.settings",
    "ExerciseSpec": "deepgrade.spec",
    "LabSpec": "deepgrade.spec",
    "load_lab": "deepgrade.spec",
}

__all__ = [
    "CheckResult",
    "DeepgradeError",
    "ExerciseResult",
    "ExerciseSpec",
    "GraderError",
    "GraderSettings",
    "LabResult",
    "LabSpec",
    "SpecError",
    "Status",
    "Submission",
    "SubmissionError",
    "UsageError",
    "__version__",
    "grade_cells",
    "grade_submission",
    "load_lab",
    "load_submission",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deepgrade' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
