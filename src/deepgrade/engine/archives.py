"""A student's upload opened safely: the file to grade in a folder, and zip archives extracted.

Archives come from students: they are extracted into a private folder, and one that escapes it
(``../``, absolute paths, links) or unpacks to too much is refused with a reason. Batch grading
(``deepgrade.staff.submissions``) and the hosted autograders (``deepgrade.platforms``) share it.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from deepgrade.engine.loader import SUFFIXES
from deepgrade.errors import SubmissionError
from deepgrade.model.spec import LabSpec

ARCHIVE_SUFFIX = ".zip"
MAX_ARCHIVE_FILES = 1000
MAX_ARCHIVE_BYTES = 100 << 20
# Folders that editors and archivers add next to the work; never the student's file.
_IGNORED_PARTS = frozenset({"__MACOSX", "__pycache__"})
_CHUNK = 1 << 16


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
        if path.suffix in SUFFIXES and path.is_file() and not any(map(ignored_name, parts)):
            found.append(path)
    return found


def ignored_name(name: str) -> bool:
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
