"""Finding a class's submissions on disk, and opening one safely to reach the file to grade.

Three layouts are understood, alone or mixed: nbgrader's ``submitted/<student>/<assignment>/``,
a folder of per-student folders (``<student>/...``) and a folder of per-student zip archives
(``<student>.zip``, as learning platforms export them). A notebook or module lying directly in
the folder (``<student>.ipynb``) is a submission too.

Archives come from students: they are extracted into a private temporary folder, and one that
escapes it (``../``, absolute paths, links) or unpacks to too much is refused with a reason.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from loguru import logger

from deepgrade.engine.loader import SUFFIXES
from deepgrade.errors import SubmissionError, UsageError
from deepgrade.model.records import digest
from deepgrade.model.spec import LabSpec

SUBMITTED_DIR = "submitted"
ARCHIVE_SUFFIX = ".zip"
MAX_ARCHIVE_FILES = 1000
MAX_ARCHIVE_BYTES = 100 << 20
# Folders that editors and archivers add next to the work; never the student's file.
_IGNORED_PARTS = frozenset({"__MACOSX", "__pycache__"})
_CHUNK = 1 << 16


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
        if _ignored(entry.name) or entry.resolve() == skipped:
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


def choose_file(folder: Path, lab: LabSpec, *, label: str | None = None) -> Path:
    """The student's file in ``folder`` (searched recursively).

    The lab's notebook by name, else its module by name, else the only notebook, else the only
    module; anything else is ambiguous or empty, and raises :class:`SubmissionError`.
    """
    label = label or folder.name
    candidates = candidate_files(folder)
    for name in (lab.notebook, lab.module):
        named = [path for path in candidates if path.name == name]
        if named:
            return _single(named, folder, label, f"files named {name}")
    for suffix, kind in ((".ipynb", "notebooks"), (".py", "modules")):
        of_kind = [path for path in candidates if path.suffix == suffix]
        if of_kind:
            return _single(of_kind, folder, label, f"{kind} and none named {lab.notebook}")
    raise SubmissionError(f"no notebook (.ipynb) or module (.py) in {label}")


def _single(paths: list[Path], folder: Path, label: str, what: str) -> Path:
    if len(paths) == 1:
        return paths[0]
    listed = ", ".join(path.relative_to(folder).as_posix() for path in paths)
    raise SubmissionError(f"{label} holds several {what}: {listed}")


def candidate_files(folder: Path) -> list[Path]:
    """The notebooks and modules in ``folder`` (recursively) that could be the one to grade."""
    found = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.suffix in SUFFIXES and path.is_file() and not any(map(_ignored, parts)):
            found.append(path)
    return found


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in _IGNORED_PARTS


def extract_archive(
    archive: Path,
    folder: Path,
    *,
    max_files: int = MAX_ARCHIVE_FILES,
    max_bytes: int = MAX_ARCHIVE_BYTES,
) -> None:
    """Extract a student's zip archive into ``folder``, refusing anything unsafe.

    Every member must stay inside ``folder`` and be a plain file or folder; the archive may
    hold at most ``max_files`` members and ``max_bytes`` once extracted, counted as the bytes
    come out, whatever the archive's headers claim.
    """
    name = archive.name
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            if len(members) > max_files:
                raise SubmissionError(
                    f"{name} holds {len(members)} files; at most {max_files} are accepted"
                )
            budget = max_bytes
            for member in members:
                target = _member_target(member, folder, name)
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                budget = _copy_member(zipped, member, target, budget, name, max_bytes)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise SubmissionError(f"{name} is not a readable zip archive ({exc})") from None
    except (RuntimeError, NotImplementedError, OSError) as exc:
        # zipfile's words for an encrypted member or an unsupported compression method, or a
        # member that cannot be written where its name puts it.
        raise SubmissionError(f"{name} cannot be extracted: {exc}") from None


def _member_target(member: zipfile.ZipInfo, folder: Path, archive: str) -> Path:
    # Archives made on Windows may separate folders with backslashes.
    path = PurePosixPath(member.filename.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise SubmissionError(f"{archive} holds an unsafe path {member.filename!r}; refused")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise SubmissionError(f"{archive} holds a symbolic link {member.filename!r}; refused")
    return folder.joinpath(*path.parts)


def _copy_member(
    zipped: zipfile.ZipFile,
    member: zipfile.ZipInfo,
    target: Path,
    budget: int,
    archive: str,
    max_bytes: int,
) -> int:
    """Copy one member, returning the bytes still allowed after it."""
    with zipped.open(member) as source, target.open("wb") as sink:
        while chunk := source.read(_CHUNK):
            budget -= len(chunk)
            if budget < 0:
                raise SubmissionError(
                    f"{archive} unpacks to more than {max_bytes / (1 << 20):g} MiB; refused"
                )
            sink.write(chunk)
    return budget
