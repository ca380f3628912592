"""deepgrade: automated grading and exercises for introductory deep-learning courses.

The public API is re-exported here and imported lazily, so that ``grade --help`` and the
worker processes do not pay for what they do not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loguru import logger

from deepgrade.version import __version__

# A library stays quiet unless its application asks: the CLI enables these logs.
logger.disable("deepgrade")

if TYPE_CHECKING:
    # Redundant aliases mark the re-exports for type checkers.
    from deepgrade.engine.grading import (
        grade_cells as grade_cells,
    )
    from deepgrade.engine.grading import (
        grade_submission as grade_submission,
    )
    from deepgrade.engine.loader import Submission as Submission
    from deepgrade.engine.loader import load_submission as load_submission
    from deepgrade.errors import (
        DeepgradeError as DeepgradeError,
    )
    from deepgrade.errors import (
        GraderError as GraderError,
    )
    from deepgrade.errors import (
        SpecError as SpecError,
    )
    from deepgrade.errors import (
        SubmissionError as SubmissionError,
    )
    from deepgrade.errors import (
        UsageError as UsageError,
    )
    from deepgrade.model.records import (
        SubmissionRecord as SubmissionRecord,
    )
    from deepgrade.model.records import (
        read_records as read_records,
    )
    from deepgrade.model.results import (
        CheckResult as CheckResult,
    )
    from deepgrade.model.results import (
        ExerciseResult as ExerciseResult,
    )
    from deepgrade.model.results import (
        LabResult as LabResult,
    )
    from deepgrade.model.results import (
        Status as Status,
    )
    from deepgrade.model.spec import (
        ExerciseSpec as ExerciseSpec,
    )
    from deepgrade.model.spec import (
        LabSpec as LabSpec,
    )
    from deepgrade.model.spec import (
        load_lab as load_lab,
    )
    from deepgrade.notebook import check as check
    from deepgrade.notebook import score as score
    from deepgrade.reports.feedback import write_feedback as write_feedback
    from deepgrade.reports.summary import write_summary as write_summary
    from deepgrade.settings import GraderSettings as GraderSettings
    from deepgrade.staff.batch import run_batch as run_batch
    from deepgrade.staff.course import CourseConfig as CourseConfig
    from deepgrade.staff.course import load_course as load_course
    from deepgrade.staff.gradebook import (
        read_manual_scores as read_manual_scores,
    )
    from deepgrade.staff.gradebook import (
        write_gradebook as write_gradebook,
    )
    from deepgrade.staff.grades import (
        compute_grades as compute_grades,
    )
    from deepgrade.staff.grades import (
        write_exports as write_exports,
    )
    from deepgrade.staff.release import release_lab as release_lab
    from deepgrade.staff.similarity import find_similar as find_similar

_EXPORTS = {
    "check": "deepgrade.notebook",
    "score": "deepgrade.notebook",
    "run_batch": "deepgrade.staff.batch",
    "CourseConfig": "deepgrade.staff.course",
    "load_course": "deepgrade.staff.course",
    "DeepgradeError": "deepgrade.errors",
    "GraderError": "deepgrade.errors",
    "SpecError": "deepgrade.errors",
    "SubmissionError": "deepgrade.errors",
    "UsageError": "deepgrade.errors",
    "write_feedback": "deepgrade.reports.feedback",
    "read_manual_scores": "deepgrade.staff.gradebook",
    "write_gradebook": "deepgrade.staff.gradebook",
    "compute_grades": "deepgrade.staff.grades",
    "write_exports": "deepgrade.staff.grades",
    "grade_cells": "deepgrade.engine.grading",
    "grade_submission": "deepgrade.engine.grading",
    "Submission": "deepgrade.engine.loader",
    "load_submission": "deepgrade.engine.loader",
    "release_lab": "deepgrade.staff.release",
    "find_similar": "deepgrade.staff.similarity",
    "SubmissionRecord": "deepgrade.model.records",
    "read_records": "deepgrade.model.records",
    "CheckResult": "deepgrade.model.results",
    "ExerciseResult": "deepgrade.model.results",
    "LabResult": "deepgrade.model.results",
    "Status": "deepgrade.model.results",
    "GraderSettings": "deepgrade.settings",
    "ExerciseSpec": "deepgrade.model.spec",
    "LabSpec": "deepgrade.model.spec",
    "load_lab": "deepgrade.model.spec",
    "write_summary": "deepgrade.reports.summary",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deepgrade' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
