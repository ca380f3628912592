"""Deadlines: when a submission was handed in, and what the course's late policy takes off.

A submission's time comes, best first, from nbgrader's ``timestamp.txt`` (written by ``nbgrader
submit`` into the submission's folder), from the zip archive's own member times, or from the
file's modification time. Every one of them is the student's data: ``timestamp.txt`` is read
with bounds, and one that cannot be parsed is reported on the time, never raised.
"""

from __future__ import annotations

import math
import os
import re
import stat
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deepgrade.engine.archives import MAX_ARCHIVE_FILES, candidate_files, ignored_name
from deepgrade.engine.loader import SUFFIXES
from deepgrade.model.deadlines import Penalty, SubmissionTime, TimeSource
from deepgrade.model.records import SubmissionRecord
from deepgrade.staff.course import CourseConfig
from deepgrade.staff.submissions import FoundSubmission, SourceKind

TIMESTAMP_FILE = "timestamp.txt"
# nbgrader writes some 30 characters ("2025-10-06 21:12:03.123456 UTC"): more is not one.
_TIMESTAMP_LIMIT = 100
# nbgrader's format, "%Y-%m-%d %H:%M:%S.%f %Z" by default: a date, a time, maybe a zone (its
# Exchange.timezone's abbreviation, a name or an offset); ISO 8601's "T" and offsets too.
_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r" ?(Z|[+-]\d{2}:?\d{2}|[A-Za-z][A-Za-z0-9_+-]{0,30}(?:/[A-Za-z0-9_+-]{1,30}){0,2})?"
)
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def submission_time(found: FoundSubmission, zone: tzinfo) -> SubmissionTime:
    """When ``found`` was handed in, and from which source; ``zone`` reads a zip's times,
    which carry none of their own."""
    source = found.source
    problem = ""
    if found.kind is SourceKind.FOLDER and (source / TIMESTAMP_FILE).is_file():
        try:
            at = parse_timestamp(read_timestamp_file(source / TIMESTAMP_FILE))
            return SubmissionTime(at=at, source=TimeSource.NBGRADER)
        except ValueError as exc:
            problem = f"{TIMESTAMP_FILE} unreadable ({exc})"
    if found.kind is SourceKind.ARCHIVE:
        try:
            member_time = _archive_time(source, zone)
        except ValueError as exc:
            problem = "; ".join(filter(None, [problem, str(exc)]))
        else:
            if member_time is not None:
                return SubmissionTime(at=member_time, source=TimeSource.ARCHIVE, problem=problem)
    files = candidate_files(source) if source.is_dir() else [source]
    try:
        latest = max((path.stat().st_mtime for path in files), default=None)
    except OSError:
        latest = None
    if latest is None:
        return SubmissionTime(problem=problem)
    at = datetime.fromtimestamp(latest, tz=UTC)
    return SubmissionTime(at=at, source=TimeSource.MTIME, problem=problem)


def read_timestamp_file(path: Path) -> str:
    """The file's text, if it is a small regular file: never a link (to another file, whose
    text an error message would quote) nor a pipe (that would block)."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ValueError(exc.strerror or "cannot be opened") from None
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise ValueError("not a regular file")
        data = stream.read(_TIMESTAMP_LIMIT + 1)
    if len(data) > _TIMESTAMP_LIMIT:
        raise ValueError(f"longer than {_TIMESTAMP_LIMIT} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def parse_timestamp(text: str) -> datetime:
    """An nbgrader timestamp as an aware time; a time without a zone is UTC, as nbgrader
    reads it. Raises ``ValueError`` saying what is wrong."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a date and time: {text.strip()[:40]!r}")
    try:
        moment = datetime.fromisoformat(f"{match[1]}T{match[2]}")
    except ValueError as exc:
        raise ValueError(f"{match[1]} {match[2]}: {exc}") from None
    return moment.replace(tzinfo=_zone(match[3]))


def _zone(name: str | None) -> tzinfo:
    if name is None or name in ("Z", "UTC", "GMT"):
        return UTC
    offset = _OFFSET.fullmatch(name)
    if offset is not None:
        sign = -1 if offset[1] == "-" else 1
        hours, minutes = int(offset[2]), int(offset[3])
        if hours > 23 or minutes > 59:
            raise ValueError(f"not a time zone offset: {name}")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # nbgrader's own %Z abbreviations (CEST, PDT) name no single zone.
        raise ValueError(f"unknown time zone {name!r}") from None


def _archive_time(archive: Path, zone: tzinfo) -> datetime | None:
    """The latest time of the archive's notebooks and modules (zip times are local times:
    read in ``zone``); None if it has none. Raises ``ValueError`` for an unusable archive."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
    except (OSError, zipfile.BadZipFile, EOFError):
        return None  # grading reports the archive itself
    if len(members) > MAX_ARCHIVE_FILES:
        raise ValueError(f"the archive holds more than {MAX_ARCHIVE_FILES} files")
    times = []
    for member in members:
        parts = PurePosixPath(member.filename).parts
        if PurePosixPath(member.filename).suffix in SUFFIXES and not any(map(ignored_name, parts)):
            try:
                times.append(datetime(*member.date_time, tzinfo=zone))
            except ValueError:
                continue  # a member with an impossible date (day 0): no time from it
    return max(times, default=None)


def penalty(
    config: CourseConfig, lab: str, student: str, submitted: SubmissionTime | None
) -> Penalty | None:
    """What ``student``'s lateness costs on ``lab``; None where the lab has no deadline."""
    deadline = config.deadline_of(lab, student)
    policy = config.late_policy(lab)
    if deadline is None or policy is None:
        return None
    submitted = submitted or SubmissionTime()
    if submitted.at is None:
        return Penalty(
            deadline=deadline,
            submitted=submitted,
            percent=0.0,
            reason="submission time unknown: not penalised",
        )
    late = submitted.at - deadline
    if late <= timedelta(0):
        return Penalty(deadline=deadline, submitted=submitted, percent=0.0, reason="on time")
    unit = timedelta(days=1) if policy.per == "day" else timedelta(hours=1)
    started = math.ceil(late / unit)
    span = f"{started} {policy.per}{'s' if started != 1 else ''} late"
    if policy.cutoff is not None and late > timedelta(days=policy.cutoff):
        reason = f"{span}, after the cut-off ({policy.cutoff:g} days): 100 %"
        return Penalty(deadline=deadline, submitted=submitted, percent=100.0, reason=reason)
    percent = min(policy.cap, started * policy.percent)
    capped = " (the cap)" if started * policy.percent > policy.cap < 100 else ""
    reason = f"{span}, {percent:g} %{capped}"
    return Penalty(deadline=deadline, submitted=submitted, percent=percent, reason=reason)


def latest(records: Iterable[SubmissionRecord]) -> SubmissionRecord:
    """The last handed in of a team's records (those of unknown time count as earliest)."""
    return max(records, key=_time_key)


def _time_key(record: SubmissionRecord) -> tuple[bool, datetime]:
    at = record.submitted.at if record.submitted is not None else None
    return (at is not None, at or datetime.min.replace(tzinfo=UTC))
