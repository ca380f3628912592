"""The exception hierarchy of deepgrade.

Every error that is the user's to fix derives from :class:`DeepgradeError`; the command line
turns it into ``Error: ...`` and its ``exit_code``, and shows a traceback only with ``--debug``.
Mistakes in a student's code are never exceptions of this kind: they become graded statuses.

Exit codes: 1 for an error, 2 for a usage error or a command that needs an extra this
installation lacks (the student package running a staff command, :class:`MissingExtraError`).
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


class MissingExtraError(DeepgradeError):
    """Something needs an optional part of the installation (an extra) that is not installed."""

    exit_code = 2

    def __init__(self, message: str, *, extra: str, install: str) -> None:
        super().__init__(message)
        self.extra = extra
        self.install = install
