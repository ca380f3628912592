"""The public checks a released notebook carries in its first cell, so that it checks anywhere.

A handout is copied alone into an empty folder, uploaded to Google Colab (where the kernel
cannot read the notebook file), opened in VS Code or renamed (``lab2_activations (1).ipynb``):
a folder of checks beside it is not to be counted on. So ``grade release`` packs the lab's
public checks (``lab.toml``, the recorded references, the judges) into the text of one code
cell, the *checks cell*, which the student runs like any other and ``grade check`` reads
without running. Its text is one call, ``use_checks("<lab>", "<version>", <data>)``, with the
data in a triple-quoted string: the files, compressed and in base64, after a one-line JSON
header that names them.

Everything here reads text that passed through the student's hands: it is parsed with bounds
(sizes before and after decompression, the names of the files, the header's shape) and only
ever becomes a student release, which the grader loads as data (see ``spec.load_release``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import lzma
import re
import textwrap
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from deepgrade.errors import SpecError

# The tag of the checks cell: ``grade check`` and the worker never run it as student code.
CHECKS_TAG = "deepgrade-checks"
# The files a handout may carry, as in a release's ``autograder/<folder>/``.
_FILES = ("lab.toml", "recorded.pt", "references.py")
_FORMAT = 1
# Bounds on what a checks cell may make this process read: far above any lab's (Lab 1, the
# largest, packs 430 kB into 560 kB of text).
MAX_TEXT = 16 << 20
_MAX_UNPACKED = 64 << 20
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_WIDTH = 100
_CALL = re.compile(
    r"""use_checks\(\s*"(?P<lab>[A-Za-z0-9_]{1,64})"\s*,\s*"(?P<version>[0-9a-f]{1,64})"\s*,"""
    r'''\s*"""(?P<data>[A-Za-z0-9+/=\s]*)"""\s*\)''',
)


@dataclass(frozen=True)
class Handout:
    """A lab's public checks as a released notebook carries them."""

    lab: str
    folder: str
    released: str
    files: dict[str, bytes]

    @property
    def version(self) -> str:
        """What tells two releases of a lab's checks apart: a digest of their files."""
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name] + b"\0")
        return digest.hexdigest()[:12]

    def write(self, autograder: Path) -> Path:
        """Write the files as a release's ``autograder/<folder>/`` under ``autograder``."""
        folder = autograder / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (folder / name).write_bytes(data)
        return folder


def pack(lab: str, folder: Path, released: date | None = None) -> Handout:
    """The handout of the release folder ``folder`` (``autograder/<folder>/``) of ``lab``,
    released on ``released`` (today by default)."""
    files = {name: (folder / name).read_bytes() for name in _FILES if (folder / name).is_file()}
    day = released or datetime.now(UTC).date()
    return Handout(lab, folder.name, day.isoformat(), files)


def cell_source(handout: Handout) -> str:
    """The checks cell's text: a comment for the student and one call that hands the data over.

    ``#@title`` lets Google Colab fold the cell to its title; Jupyter hides it by metadata.
    """
    header = {
        "format": _FORMAT,
        "lab": handout.lab,
        "folder": handout.folder,
        "released": handout.released,
        "files": [[name, len(data)] for name, data in handout.files.items()],
    }
    payload = json.dumps(header).encode() + b"\n" + b"".join(handout.files.values())
    data = base64.b64encode(lzma.compress(payload, preset=9)).decode()
    lines = "\n".join(textwrap.wrap(data, _WIDTH, break_on_hyphens=False))
    return (
        f"#@title The checks of {handout.lab}: run this cell first (do not edit it)\n"
        f"# Released {handout.released}. The check cells below grade your code with these\n"
        "# checks; a fixed release replaces this cell (see `grade update-checks`).\n"
        "from deepgrade.notebook import use_checks\n\n"
        f'use_checks("{handout.lab}", "{handout.version}", """\n{lines}\n""")\n'
    )


def find_call(text: str) -> str | None:
    """The ``use_checks(...)`` call in a cell's text, if it holds one."""
    if "use_checks" not in text or len(text) > MAX_TEXT:
        return None
    match = _CALL.search(text)
    return match.group(0) if match else None


def checks_cell_of(notebook: Any) -> tuple[Any, str] | None:
    """The checks cell of a notebook's JSON data, and its call; ``None`` if it has none."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else str(source)
            call = find_call(text)
            if call is not None:
                return cell, call
    return None


def lab_of(call: str) -> str | None:
    """The lab a checks cell's call names (unchecked: a hint, as a notebook's metadata is)."""
    match = _CALL.search(call)
    return match.group("lab") if match else None


def version_of(call: str) -> str | None:
    """The version a checks cell's call names (unchecked)."""
    match = _CALL.search(call)
    return match.group("version") if match else None


def parse(text: str) -> Handout:
    """The handout in a checks cell's text (or its call), checked at every step.

    Raises ``SpecError`` with the reason when the text is not a checks cell written by
    ``grade release`` (edited, cut short, or not one at all).
    """
    if len(text) > MAX_TEXT:
        raise SpecError("the checks cell is too large")
    match = _CALL.search(text)
    if match is None:
        raise SpecError("the checks cell holds no use_checks(...) call")
    return unpack(match.group("lab"), match.group("version"), match.group("data"))


def unpack(lab: str, version: str, data: str) -> Handout:
    """The handout of a ``use_checks(lab, version, data)`` call (see :func:`parse`)."""
    if len(data) > MAX_TEXT:
        raise SpecError("the checks cell is too large")
    try:
        packed = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SpecError("the checks cell's data is not base64") from None
    payload = _decompress(packed)
    head, _, body = payload.partition(b"\n")
    handout = _handout(head, body)
    if handout.lab != lab or handout.version != version:
        raise SpecError("the checks cell was edited: its data is not what its header says")
    return handout


def _decompress(packed: bytes) -> bytes:
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        payload = decompressor.decompress(packed, max_length=_MAX_UNPACKED)
    except lzma.LZMAError:
        raise SpecError("the checks cell's data is damaged") from None
    if not decompressor.eof:
        raise SpecError("the checks cell's data is damaged or too large")
    return payload


def _handout(head: bytes, body: bytes) -> Handout:
    try:
        header = json.loads(head)
    except (ValueError, RecursionError):
        raise SpecError("the checks cell's data has no valid header") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise SpecError("the checks cell was written by another version of deepgrade")
    lab, folder, released, listed = (header.get(k) for k in ("lab", "folder", "released", "files"))
    names_ok = all(isinstance(v, str) and _NAME.fullmatch(v) for v in (lab, folder))
    if not names_ok or not isinstance(released, str) or len(released) > 32:
        raise SpecError("the checks cell's header is malformed")
    if not isinstance(listed, list) or len(listed) > len(_FILES):
        raise SpecError("the checks cell's header is malformed")
    files: dict[str, bytes] = {}
    offset = 0
    for entry in listed:
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and entry[0] in _FILES
            and entry[0] not in files
            and isinstance(entry[1], int)
            and 0 <= entry[1] <= len(body) - offset
        ):
            raise SpecError("the checks cell's header is malformed")
        name, size = entry
        files[name] = body[offset : offset + size]
        offset += size
    if offset != len(body) or "lab.toml" not in files:
        raise SpecError("the checks cell's data does not match its header")
    assert isinstance(lab, str) and isinstance(folder, str)
    return Handout(lab, folder, released, files)
