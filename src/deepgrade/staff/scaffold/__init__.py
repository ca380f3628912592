"""``grade new-lab``: everything a new lab needs, written from the templates beside this module.

A lab is data in a course: its solution source (``solutions/<folder>/<folder>.py``), its checks
(``autograder/<folder>/``: ``lab.toml``, ``hidden.toml``, ``references.py``), its bug-table test
(``tests/labs/test_<lab>_grades.py``, its data in ``tests/labs/<lab>.py``) and its pytest
marker in ``pyproject.toml``; ``grade build``
generates the rest. The scaffold writes one example exercise in each, following the bundled
labs, so that the new lab builds, grades its solution to full marks and its stubs to zero before
its author changes a line (docs/authoring.md goes on from there).
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from string import Template

from loguru import logger
from pydantic import BaseModel, ConfigDict

from deepgrade.errors import UsageError
from deepgrade.model.spec import HIDDEN_FILE, LAB_FILE, REFERENCES_FILE
from deepgrade.staff.authoring import build_course, lab_label

_LAB_ID = re.compile(r"lab([1-9][0-9]*)")
_SLUG = re.compile(r"[a-z0-9]+(_[a-z0-9]+)*")
# Where each template goes in the course, formatted with the lab's id and folder.
_TEMPLATES = {
    "solution.py.tmpl": "solutions/{folder}/{folder}.py",
    "lab.toml.tmpl": f"autograder/{{folder}}/{LAB_FILE}",
    "hidden.toml.tmpl": f"autograder/{{folder}}/{HIDDEN_FILE}",
    "references.py.tmpl": f"autograder/{{folder}}/{REFERENCES_FILE}",
    "lab_grades.py.tmpl": "tests/labs/{lab_id}.py",
    "test_grades.py.tmpl": "tests/labs/test_{lab_id}_grades.py",
}
# The folders that hold a lab's files, each named after the lab folder.
_LAB_DIRS = ("solutions", "autograder", "exercises")
# The multi-line markers list of pytest's section, up to its closing bracket on its own line.
_MARKERS = re.compile(r"^markers\s*=\s*\[[ \t]*\n(.*?)^\]", re.M | re.S)


class Marker(StrEnum):
    """What became of the lab's pytest marker in the course's ``pyproject.toml``."""

    ADDED = "added"
    PRESENT = "present"
    # No pyproject.toml, or no markers list laid out one entry a line: the author adds it.
    BY_HAND = "by hand"


class NewLab(BaseModel):
    """A scaffolded lab: the files the scaffold wrote, those ``grade build`` generated."""

    model_config = ConfigDict(frozen=True)

    lab_id: str
    folder: str
    written: list[Path]
    built: list[Path]
    marker: Marker
    marker_text: str


def new_lab(lab_id: str, title: str, *, course: Path = Path(), folder: str | None = None) -> NewLab:
    """Scaffold lab ``lab_id`` (``lab8``) titled ``title`` in ``course``, then build it.

    ``folder`` (``lab8_convolution``) defaults to the lab id and a slug of the title. Refuses,
    before writing anything, an id that is not ``lab<N>``, an empty title, and a lab id or
    folder that the course already has.
    """
    number = _lab_number(lab_id)
    title = " ".join(title.split())
    if not title:
        raise UsageError('the title is empty: give one, as --title "Convolutional networks"')
    folder = _folder_name(lab_id, title, folder)
    targets = {
        course / path.format(lab_id=lab_id, folder=folder): name
        for name, path in _TEMPLATES.items()
    }
    _refuse_taken(course, lab_id, targets)
    topic = _topic(title)
    values = {
        "lab_id": lab_id,
        "label": lab_label(lab_id),
        "topic": topic,
        "title_toml": json.dumps(title, ensure_ascii=False),
        "folder": folder,
        # The hidden check's inputs: a seed of its own, never the public check's (seed 1).
        "hidden_seed": f"9{number}01",
    }
    for path, name in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_template(name).substitute(values), encoding="utf-8")
        logger.debug("wrote {}", path)
    marker_text = f"{lab_id}: {lab_label(lab_id)} ({topic})"
    marker = _add_marker(course / "pyproject.toml", lab_id, marker_text)
    built = build_course(course, [folder])
    return NewLab(
        lab_id=lab_id,
        folder=folder,
        written=list(targets),
        built=built,
        marker=marker,
        marker_text=marker_text,
    )


def _lab_number(lab_id: str) -> int:
    match = _LAB_ID.fullmatch(lab_id)
    if match is None:
        raise UsageError(f"{lab_id!r} is not a lab id: lab<N>, as lab8")
    return int(match.group(1))


def _folder_name(lab_id: str, title: str, folder: str | None) -> str:
    """The given folder name, checked, or ``<lab id>_<slug of the title>``."""
    if folder is None:
        ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "_", ascii_title.lower()).strip("_")
        if not slug:
            raise UsageError(f"no folder name in the title {title!r}: give --folder {lab_id}_NAME")
        return f"{lab_id}_{slug}"
    # build_course and the lab's test select a lab's folders by this prefix.
    name = folder.removeprefix(f"{lab_id}_")
    if not folder.startswith(f"{lab_id}_") or not _SLUG.fullmatch(name):
        raise UsageError(
            f"folder {folder!r}: name it {lab_id}_NAME, lowercase letters, digits and _"
        )
    return folder


def _refuse_taken(course: Path, lab_id: str, targets: dict[Path, str]) -> None:
    """Refuse a lab id or folder that the course already has: a scaffold overwrites nothing."""
    for lab_file in sorted(course.glob(f"autograder/*/{LAB_FILE}")):
        if tomllib.loads(lab_file.read_text(encoding="utf-8")).get("id") == lab_id:
            raise UsageError(f"lab {lab_id} exists: {lab_file.parent}")
    # Every folder of the lab is named <lab id>_...: any one of them means the lab exists.
    taken = [path for top in _LAB_DIRS for path in sorted((course / top).glob(f"{lab_id}_*"))]
    taken += [path for path in targets if path.exists()]
    if taken:
        raise UsageError(f"lab {lab_id} exists: {taken[0]}")


def _topic(title: str) -> str:
    """The title as it reads after "Lab 8: " (lowercase, unless it starts with an acronym)."""
    return title[0].lower() + title[1:] if title[1:2].islower() else title


def _template(name: str) -> Template:
    return Template(files(__name__).joinpath("templates", name).read_text(encoding="utf-8"))


def _add_marker(pyproject: Path, lab_id: str, text: str) -> Marker:
    """Add ``text`` to pytest's markers in ``pyproject`` unless ``lab_id`` has one there.

    The file is edited as text, one line inserted, so that its comments and layout stay.
    """
    if not pyproject.is_file():
        return Marker.BY_HAND
    source = pyproject.read_text(encoding="utf-8")
    if lab_id in _pytest_markers(source):
        return Marker.PRESENT
    section = source.find("[tool.pytest.ini_options]")
    match = _MARKERS.search(source, section) if section >= 0 else None
    if match is None:
        return Marker.BY_HAND
    entries = match.group(1).rstrip()
    if entries and not entries.endswith(","):
        entries += ","  # TOML allows the last entry without its comma
    entry = f"    {json.dumps(text, ensure_ascii=False)},"
    body = f"{entries}\n{entry}\n" if entries else f"{entry}\n"
    updated = source[: match.start(1)] + body + source[match.end(1) :]
    if lab_id not in _pytest_markers(updated):
        return Marker.BY_HAND
    pyproject.write_text(updated, encoding="utf-8")
    return Marker.ADDED


def _pytest_markers(source: str) -> set[str]:
    """The names of the markers that a pyproject.toml declares for pytest (none if unreadable)."""
    try:
        document = tomllib.loads(source)
    except tomllib.TOMLDecodeError:
        return set()
    options = document.get("tool", {}).get("pytest", {}).get("ini_options", {})
    return {str(marker).split(":", 1)[0].strip() for marker in options.get("markers", [])}
