"""Finding a class's submissions on disk, and opening one safely to reach the file to grade.

Three layouts are understood, alone or mixed: nbgrader's ``submitted/<student>/<assignment>/``,
a folder of per-student folders (``<student>/...``) and a folder of per-student zip archives
(``<student>.zip``, as learning platforms export them). A notebook or module lying directly in
the folder (``<student>.ipynb``) is a submission too.

Archives are opened by ``deepgrade.engine.archives``, which refuses unsafe ones with a reason.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from loguru import logger

from deepgrade.engine.archives import (
    ARCHIVE_SUFFIX,
    candidate_files,
    choose_file,
    extract_archive,
    ignored_name,
)
from deepgrade.engine.loader import SUFFIXES
from deepgrade.errors import SubmissionError, UsageError
from deepgrade.model.records import digest
from deepgrade.model.spec import LabSpec

SUBMITTED_DIR = "submitted"


class SourceKind(StrEnum):
    FOLDER = "folder"
    ARCHIVE = "archive"
    FILE = "file"


@dataclass(frozen=True)
class FoundSubmission:
    """One student's submission as found on disk, not opened yet.

    ``problem`` says why it cannot be graded when that is known without opening it (the same
    student handed in twice, say); ``sources`` then lists every candidate.
    """

    student: str
    kind: SourceKind
    sources: tuple[Path, ...]
    problem: str = ""

    @property
    def source(self) -> Path:
        return self.sources[0]

    def content_hash(self) -> str:
        """A digest of what decides the grade: the archive's bytes or the candidate files."""
        files: list[Path] = []
        for source in self.sources:
            files += candidate_files(source) if source.is_dir() else [source]
        return digest(files, salt=self.kind.value)


def find_submissions(
    root: Path, lab: LabSpec, *, exclude: Path | None = None
) -> list[FoundSubmission]:
    """Every submission of ``lab`` under ``root``, sorted by student id.

    ``root`` may be an nbgrader course folder, its ``submitted/`` folder, or a folder of
    per-student folders, zip archives and single files. ``exclude`` is a folder to pass over
    (a batch's output folder placed among the submissions).
    """
    if not root.is_dir():
        raise UsageError(f"no such folder of submissions: {root}")
    nbgrader = root.name == SUBMITTED_DIR
    if (root / SUBMITTED_DIR).is_dir():
        root, nbgrader = root / SUBMITTED_DIR, True
    assignment = lab.folder.name
    skipped = exclude.resolve() if exclude is not None else None
    by_student: dict[str, list[tuple[SourceKind, Path]]] = {}
    for entry in sorted(root.iterdir()):
        if ignored_name(entry.name) or entry.resolve() == skipped:
            continue
        found = _classify(entry, assignment, nbgrader=nbgrader)
        if found is not None:
            by_student.setdefault(found[0], []).append(found[1:])
    if not by_student:
        where = f"{assignment}/ folders in {root}" if nbgrader else root
        raise SubmissionError(
            f"no submissions found in {where} (expected per-student folders, "
            f"<student>.zip archives or notebooks)"
        )
    return [_found(student, entries) for student, entries in sorted(by_student.items())]


def _classify(
    entry: Path, assignment: str, *, nbgrader: bool
) -> tuple[str, SourceKind, Path] | None:
    if entry.is_dir():
        if (entry / assignment).is_dir():
            return entry.name, SourceKind.FOLDER, entry / assignment
        if nbgrader:
            # In nbgrader's layout, a student without this assignment's folder did not submit
            # it: their other assignments must not be graded as this one.
            logger.debug("{} has no {} folder; skipped", entry, assignment)
            return None
        return entry.name, SourceKind.FOLDER, entry
    if entry.suffix == ARCHIVE_SUFFIX:
        return entry.stem, SourceKind.ARCHIVE, entry
    if entry.suffix in SUFFIXES:
        return entry.stem, SourceKind.FILE, entry
    return None


def _found(student: str, entries: list[tuple[SourceKind, Path]]) -> FoundSubmission:
    kind = entries[0][0]
    sources = tuple(path for _, path in entries)
    if len(entries) == 1:
        return FoundSubmission(student, kind, sources)
    names = ", ".join(path.name for path in sources)
    return FoundSubmission(
        student, kind, sources, problem=f"{len(sources)} submissions for {student}: {names}"
    )


@contextmanager
def open_submission(found: FoundSubmission, lab: LabSpec) -> Iterator[tuple[Path, str]]:
    """The file to grade and its path inside the submission, extracting an archive if needed.

    An extracted archive is removed on leaving the ``with`` block. Raises
    :class:`SubmissionError` with the reason when there is no single file to grade.
    """
    if found.problem:
        raise SubmissionError(found.problem)
    if found.kind is SourceKind.FILE:
        yield found.source, found.source.name
        return
    if found.kind is SourceKind.FOLDER:
        chosen = choose_file(found.source, lab)
        yield chosen, chosen.relative_to(found.source).as_posix()
        return
    folder = Path(tempfile.mkdtemp(prefix="deepgrade-submission-"))
    try:
        extract_archive(found.source, folder)
        chosen = choose_file(folder, lab, label=found.source.name)
        yield chosen, chosen.relative_to(folder).as_posix()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
