"""What a command is asked to grade, checked before any worker starts.

``grade check``, ``grade batch``, the check cells and the Python API behind them all go through
:func:`validate_request`: a submission that is missing, a folder, of the wrong kind or no
notebook, an unknown lab or exercise, or a notebook of another lab than the one asked for is a
:class:`~deepgrade.errors.UsageError`, said at once. Nothing here imports PyTorch (loading a
lab's checks does), so that a usage error costs well under a second.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deepgrade.engine.loader import Submission, load_submission, read_notebook
from deepgrade.errors import SpecError, SubmissionError, UsageError
from deepgrade.model import handout, spec
from deepgrade.model.spec import LabLocation, LabSpec
from deepgrade.settings import GraderSettings


@dataclass(frozen=True)
class GradingRequest:
    """A request that passed :func:`validate_request`."""

    lab: LabLocation
    exercises: tuple[str, ...]
    """The ids of the exercises asked for; empty for all of them."""
    submission: Submission | None
    """The submission read, or ``None`` for a folder of submissions (``grade batch``)."""
    include_hidden: bool

    @property
    def graded(self) -> Submission:
        """The submission of a request for one file."""
        if self.submission is None:
            raise TypeError("a request for a folder of submissions grades no single file")
        return self.submission

    def load_lab(self) -> LabSpec:
        """The lab with its checks (this imports PyTorch)."""
        return self.lab.load(include_hidden=self.include_hidden)


def validate_request(
    lab: str | None,
    exercises: Sequence[str] = (),
    *,
    settings: GraderSettings,
    submission: Path | Submission | None = None,
    submissions: Path | None = None,
) -> GradingRequest:
    """Check a request to grade ``submission`` (a file, or one already read) or the folder
    ``submissions`` against ``lab`` (found from the submission when ``None``), for the
    ``exercises`` named (ids or names; all when empty). Raises :class:`UsageError`."""
    if submissions is not None and not submissions.is_dir():
        raise UsageError(f"no such folder of submissions: {submissions}")
    if isinstance(submission, Path):
        try:
            submission = load_submission(submission)
        except SubmissionError as exc:
            # One file asked for by name: that it cannot be graded is the command's error.
            raise UsageError(str(exc)) from None
    location = locate(lab, submission, settings)
    if lab is not None and submission is not None:
        _same_lab(submission, location)
    return GradingRequest(
        lab=location,
        exercises=tuple(location.exercise_id(e) for e in exercises),
        submission=submission,
        include_hidden=settings.include_hidden,
    )


def _same_lab(submission: Submission, location: LabLocation) -> None:
    """A notebook's metadata names its lab: a notebook of another lab is the wrong file."""
    hint = submission.lab_hint
    if hint is not None and hint not in (location.id, location.folder.name):
        raise UsageError(
            f"{submission.path} is a notebook of {hint} (its metadata says so), not of "
            f"{location.id}: check the file, or leave --lab out"
        )


def locate(lab: str | None, submission: Submission | None, settings: GraderSettings) -> LabLocation:
    """The lab named ``lab``, or the one the submission's metadata or file name points to.

    Checks come from the course (:func:`~deepgrade.model.spec.course_roots`). Only a student's
    own check, with no folder of checks configured, also looks next to the submission for its
    release (data).
    """
    releases: list[Path] = []
    carried: list[Path] = []
    damaged: UsageError | None = None
    if submission is not None and settings.autograder_dir is None:
        releases = spec.release_roots(submission.path.parent)
        # The notebook's own copy of its checks, over a folder beside it (which may be left
        # from an older release): a newer release's replaces it in place (`grade update-checks`).
        if submission.checks_cell is not None:
            try:
                carried.append(handout_root(submission.checks_cell))
            except UsageError as exc:
                damaged = exc  # said only if no other checks of the lab are found
        else:
            carried += _beside(submission.path)
    try:
        return spec.locate_lab(
            lab or (submission.lab_hint if submission else None),
            course=spec.course_roots(settings.autograder_dir),
            releases=releases,
            carried=carried,
            file_stem=submission.path.stem if submission else None,
        )
    except UsageError:
        if damaged is not None:
            raise damaged from None
        raise


# Notebooks beside a module read for their checks cells, at most: a module handed in next to
# its lab's released notebook is checked with the notebook's checks.
_MAX_BESIDE = 16


def _beside(path: Path) -> list[Path]:
    """The checks of the released notebooks in ``path``'s folder (those that are usable)."""
    roots = []
    for notebook in sorted(path.parent.glob("*.ipynb"))[:_MAX_BESIDE]:
        with contextlib.suppress(SubmissionError, UsageError):
            # Only the checks cell is wanted: the notebook is not read as a submission.
            found = handout.checks_cell_of(read_notebook(notebook))
            root = handout_root(found[1]) if found is not None else None
            if root is not None and root not in roots:
                roots.append(root)
    return roots


@functools.cache
def handout_root(checks_cell: str) -> Path:
    """The checks a notebook carries, written once per process as a release's ``autograder/``.

    Raises ``UsageError`` when the cell is damaged or edited: the student can fetch it again.
    """
    try:
        unpacked = handout.parse(checks_cell)
    except SpecError as exc:
        raise UsageError(f"cannot use the notebook's checks cell: {exc}") from None
    root = Path(tempfile.mkdtemp(prefix="deepgrade-checks-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    unpacked.write(root)
    return root
