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
    from deepgrade.batch import run_batch
    from deepgrade.course import CourseConfig, load_course
    from deepgrade.errors import (
        DeepgradeError,
        GraderError,
        SpecError,
        SubmissionError,
        UsageError,
    )
    from deepgrade.feedback import write_feedback
    from deepgrade.gradebook import read_manual_scores, write_gradebook
    from deepgrade.grades import compute_grades, write_exports
    from deepgrade.grading import grade_cells, grade_submission
    from deepgrade.loader import Submission, load_submission
    from deepgrade.release import release_lab
    from deepgrade.results import SubmissionRecord, read_records
    from deepgrade.scoring import CheckResult, ExerciseResult, LabResult, Status
    from deepgrade.settings import GraderSettings
    from deepgrade.spec import ExerciseSpec, LabSpec, load_lab
    from deepgrade.summary import write_summary

__version__ = "0.1.0"

_EXPORTS = {
    "run_batch": "deepgrade.batch",
    "CourseConfig": "deepgrade.course",
    "load_course": "deepgrade.course",
    "DeepgradeError": "deepgrade.errors",
    "GraderError": "deepgrade.errors",
    "SpecError": "deepgrade.errors",
    "SubmissionError": "deepgrade.errors",
    "UsageError": "deepgrade.errors",
    "write_feedback": "deepgrade.feedback",
    "read_manual_scores": "deepgrade.gradebook",
    "write_gradebook": "deepgrade.gradebook",
    "compute_grades": "deepgrade.grades",
    "write_exports": "deepgrade.grades",
    "grade_cells": "deepgrade.grading",
    "grade_submission": "deepgrade.grading",
    "Submission": "deepgrade.loader",
    "load_submission": "deepgrade.loader",
    "release_lab": "deepgrade.release",
    "SubmissionRecord": "deepgrade.results",
    "read_records": "deepgrade.results",
    "CheckResult": "deepgrade.scoring",
    "ExerciseResult": "deepgrade.scoring",
    "LabResult": "deepgrade.scoring",
    "Status": "deepgrade.scoring",
    "GraderSettings": "deepgrade.settings",
    "ExerciseSpec": "deepgrade.spec",
    "LabSpec": "deepgrade.spec",
    "load_lab": "deepgrade.spec",
    "write_summary": "deepgrade.summary",
}

__all__ = [
    "CheckResult",
    "CourseConfig",
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
    "SubmissionRecord",
    "UsageError",
    "__version__",
    "compute_grades",
    "grade_cells",
    "grade_submission",
    "load_course",
    "load_lab",
    "load_submission",
    "read_manual_scores",
    "read_records",
    "release_lab",
    "run_batch",
    "write_exports",
    "write_feedback",
    "write_gradebook",
    "write_summary",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deepgrade' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
