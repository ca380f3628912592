"""Per-submission result records: what a batch writes, resumes from and reports on.

One JSON file per graded submission, written atomically, so that a file that exists is always
complete. A record names the content it graded and the version of the checks it used, so a
batch can tell a result that is still valid from one to redo.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from deepgrade.errors import SubmissionError
from deepgrade.model.deadlines import SubmissionTime
from deepgrade.model.results import IsolationLevel, LabResult
from deepgrade.model.spec import LabSpec
from deepgrade.version import __version__

RECORD_SCHEMA = 1
RESULTS_DIR = "results"


class RecordStatus(StrEnum):
    """How grading one submission ended, as opposed to how its exercises did."""

    GRADED = "graded"
    SUBMISSION_ERROR = "submission_error"  # unreadable: not a notebook, bad archive, no file
    GRADER_ERROR = "grader_error"  # the grader failed; never counted as the student's zero


class SubmissionRecord(BaseModel):
    """The result of grading one student's submission of one lab."""

    schema_version: int = RECORD_SCHEMA
    student: str
    lab: str
    source: str = Field(description="The submission as found: file, folder or archive.")
    graded_file: str = Field("", description="The notebook or module inside it that was graded.")
    content_hash: str
    checks_version: str
    status: RecordStatus
    error: str = ""
    result: LabResult | None = None
    max_score: float
    duration_s: float = 0.0
    isolation: IsolationLevel | None = Field(
        None, description="How its worker was isolated; None if unknown."
    )
    submitted: SubmissionTime | None = Field(
        None, description="When it was handed in, as the batch found it; None if not looked up."
    )

    @property
    def score(self) -> float:
        return self.result.score if self.result is not None else 0.0

    def is_current(self, content_hash: str, checks_version: str) -> bool:
        """Whether this record still stands for that content graded by those checks."""
        return (
            self.schema_version == RECORD_SCHEMA
            and self.content_hash == content_hash
            and self.checks_version == checks_version
            and self.status is not RecordStatus.GRADER_ERROR
        )


def record_path(out: Path, student: str) -> Path:
    return out / RESULTS_DIR / f"{student}.json"


def write_record(record: SubmissionRecord, path: Path) -> None:
    """Write ``record`` so that ``path`` holds either the old file or the whole new one."""
    write_atomic(path, record.model_dump_json(indent=1))


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private; results and pages are for the course's staff to share.
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# What makes a spreadsheet read a cell as a formula (OWASP's "CSV injection" list).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(rows: Iterable[Iterable[str]]) -> str:
    """CSV text of ``rows`` that a spreadsheet opens without running any formula.

    Every CSV deepgrade writes goes through here: its cells hold student ids, names, file
    names and messages. A cell that starts like a formula gets a leading single quote, as
    OWASP recommends; a cell that is a number (``-1.5``) stays a number.
    """
    buffer = io.StringIO()
    # RFC 4180's line ends: the writer then quotes a cell holding a lone CR too, which a
    # spreadsheet would otherwise take for the start of a new row.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def spreadsheet_safe(cell: str) -> str:
    """``cell``, quoted with a leading ``'`` if a spreadsheet would take it for a formula."""
    if not cell.startswith(_FORMULA_STARTS) or _is_number(cell):
        return cell
    return "'" + cell


# A plain decimal number, as deepgrade writes scores: Python's float() also reads "-inf",
# "-nan" and "-1_0", which a spreadsheet would take for a formula.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _is_number(cell: str) -> bool:
    return _NUMBER.fullmatch(cell) is not None


def remove_leftovers(folder: Path) -> None:
    """Delete the temporary files of :func:`write_atomic` calls whose process was killed.

    Only safe while no one else writes into ``folder`` (a batch holds its output's lock).
    """
    for path in folder.glob(".*.tmp"):
        path.unlink(missing_ok=True)


def read_record(path: Path) -> SubmissionRecord:
    try:
        return SubmissionRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path}: not a deepgrade result record ({exc})") from None


def read_records(out: Path) -> list[SubmissionRecord]:
    """Every record of a batch output folder, by student."""
    return list(iter_records(out))


def iter_records(out: Path) -> Iterator[SubmissionRecord]:
    """The records of a batch output folder one at a time, by student: a class's records
    together take memory in proportion to the class, one at a time do not."""
    for path in sorted((out / RESULTS_DIR).glob("*.json"), key=lambda p: p.stem):
        yield read_record(path)


def digest(paths: Iterable[Path], *, salt: str = "") -> str:
    """A hash of files' names and contents, stable across machines and file orders."""
    sha = hashlib.sha256(salt.encode())
    for path in sorted(paths, key=lambda p: p.name):
        sha.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def checks_version(lab: LabSpec) -> str:
    """The version of a lab's checks: the digest of its files, and the engine's version."""
    return f"{lab.version}-{__version__}"
