"""The exception hierarchy of deepgrade.

Every error that is the user's to fix derives from :class:`DeepgradeError`; the command line
turns it into ``Error: ...`` and its ``exit_code``, and shows a traceback only with ``--debug``.
Mistakes in a student's code are never exceptions of this kind: they become graded statuses.
"""

from __future__ import annotations


class DeepgradeError(Exception):
    """Base class of the errors that deepgrade reports to its user."""

    exit_code = 1


class UsageError(DeepgradeError):
    """The command was called wrongly (bad option value, unknown lab or exercise)."""

    exit_code = 2


class SubmissionError(DeepgradeError):
    """A submission cannot be read at all (no such file, not a notebook, not UTF-8)."""


class SpecError(DeepgradeError):
    """The autograder's own lab data is invalid: a bug for course staff, not for students."""


class GraderError(DeepgradeError):
    """The grader itself failed on a whole submission (the worker would not start, ...)."""


class CourseError(DeepgradeError):
    """The course's configuration or data (roster, teams, results, grades) is inconsistent."""


class BusyError(DeepgradeError):
    """Another run holds what this one needs: a batch is already writing to that output folder."""
