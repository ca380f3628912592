"""Reading a submission (a notebook or a module) into the code cells the worker will run.

The grader reads and parses files itself; the worker only ever receives source text.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepgrade.errors import SubmissionError
from deepgrade.model import handout

SKIP_TAG = "skip-grading"
# What a submission may be: a notebook, or a module (plain, or in jupytext percent format).
SUFFIXES = (".ipynb", ".py")
# jupytext's percent format: `# %%`, then optionally a title, `[markdown]` and `key=value` options
# (or `# In[ ]:`, `# <codecell>`), indented or not.
_PERCENT_MARKER = re.compile(
    r"^\s*#\s*(?:%%%*\s(?P<options>.*)|(?:%%|<codecell>|In\[[0-9 ]*\]:?)\s*)$"
)
_ENCODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-_.a-zA-Z0-9]+)")
_PERCENT_TYPE = re.compile(r"\[(markdown|md|raw)\]")
_PERCENT_TAGS = re.compile(r"\btags=(\[[^\]]*\])")
_MAGIC = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)
_MAX_SOURCE_BYTES = 8 << 20
# A notebook of any nbformat version has one of these (version 1 names no version).
_NOTEBOOK_KEYS = {"nbformat", "cells", "worksheets"}


@dataclass(frozen=True)
class Cell:
    """One code cell to run, with its position in the original file for messages.

    ``index`` counts every cell of the notebook, markdown included, so that "cell 7" is the
    seventh cell the student scrolls past. ``name`` replaces that label where the student
    sees another: the file's name for a plain module, ``In [5]`` for a kernel's history.
    """

    index: int
    source: str
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"cell {self.index + 1}"

    @property
    def filename(self) -> str:
        """The file name its code is compiled under, which tracebacks show (see ``where``)."""
        return f"<{self.label}>"


@dataclass(frozen=True)
class Submission:
    """A student's file, reduced to what the grader needs."""

    path: Path
    cells: list[Cell]
    lab_hint: str | None
    is_notebook: bool
    # The text of the checks cell a released notebook carries (see model.handout), if any.
    checks_cell: str | None = None

    @property
    def sources(self) -> list[str]:
        return [cell.source for cell in self.cells]


def load_submission(path: Path) -> Submission:
    """Read a ``.ipynb`` notebook or a ``.py`` module (plain, or in jupytext percent format)."""
    if path.is_file() and path.suffix not in SUFFIXES:
        raise SubmissionError(f"{path}: expected a notebook (.ipynb) or a Python module (.py)")
    text = _read_text(path)
    if path.suffix == ".ipynb":
        return _from_notebook(path, _read_notebook(path, text), is_notebook=True)
    if any(_PERCENT_MARKER.match(line) for line in text.splitlines()):
        return _from_notebook(path, _read_percent(text), is_notebook=False)
    return Submission(path, [Cell(0, text, path.name)], None, is_notebook=False)


def read_notebook(path: Path) -> Any:
    """A notebook file as JSON data (nbformat 4), read with a submission's bounds."""
    return _read_notebook(path, _read_text(path))


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise SubmissionError(f"{path} is a folder: give the notebook (.ipynb) or module (.py)")
    if not path.is_file():
        raise SubmissionError(f"no such file: {path}")
    if path.stat().st_size > _MAX_SOURCE_BYTES:
        raise SubmissionError(f"{path} is larger than {_MAX_SOURCE_BYTES >> 20} MiB")
    raw = path.read_bytes()
    try:
        # utf-8-sig: editors on Windows start files with a byte-order mark, which is no code.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{path} is not UTF-8 text (byte {exc.start})") from None


def _read_notebook(path: Path, text: str) -> Any:
    try:
        notebook = json.loads(text)
    except RecursionError:
        raise SubmissionError(
            f"{path} is not a valid notebook: its JSON is nested too deeply"
        ) from None
    except ValueError as exc:
        raise SubmissionError(
            f"{path} is not a valid notebook: it does not appear to be JSON ({exc})"
        ) from None
    if not isinstance(notebook, dict) or not _NOTEBOOK_KEYS & notebook.keys():
        # Said without importing nbformat: this JSON is no notebook of any format version.
        raise SubmissionError(f"{path} is not a valid notebook: it is JSON, but not a notebook")
    if notebook.get("nbformat") == 4:
        # Read as plain JSON: only cells and metadata are used, and importing nbformat costs
        # seconds (its schema validator compiles grammars), longer than grading a small lab.
        cells = notebook.get("cells")
        if isinstance(cells, list) and all(isinstance(cell, dict) for cell in cells):
            return notebook
        raise SubmissionError(f"{path} is not a valid notebook: its cells are not a list of cells")
    try:
        # nbformat comes with the staff extra only: the student package reads version 4 itself.
        import nbformat
    except ModuleNotFoundError:
        version = notebook.get("nbformat") if isinstance(notebook, dict) else None
        raise SubmissionError(
            f"{path} is not a notebook of format version 4 (it says {version!r}): "
            "save it again with Jupyter, then check it"
        ) from None
    try:
        # Older formats are converted to version 4.
        return nbformat.reads(text, as_version=4)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SubmissionError(f"{path} is not a valid notebook: {reason}") from None


def _read_percent(text: str) -> dict[str, Any]:
    """A percent-format module as the cells of a notebook, the way jupytext reads it.

    Read here rather than with jupytext, which would bring nbformat and Jupyter's packages into
    the student package. Only what grading uses is kept (the cells' numbers, kinds, tags and
    code), and the rules that decide it are jupytext's: its YAML header, markers outside string
    literals, a cell for any text before the first marker.
    """
    lines = text.splitlines()
    start, header_cell = _percent_header(lines)
    cells: list[dict[str, Any]] = [header_cell] if header_cell else []
    body: list[str] = []
    open_quote: str | None = None
    options: str | None = None
    for number, line in enumerate([*lines[start:], None]):
        marker = _PERCENT_MARKER.match(line) if line is not None and open_quote is None else None
        if line is None or marker:
            if number > 0:
                cells.append(_percent_cell(options, body))
            options = (marker.group("options") or "") if marker else None
            body = []
            continue
        open_quote = _quote_after(line, open_quote)
        body.append(line)
    return {"cells": cells, "metadata": {}}


def _percent_cell(options: str | None, body: list[str]) -> dict[str, Any]:
    """A cell from its marker's options (None: the text before the first marker) and lines."""
    kind = _PERCENT_TYPE.search(options or "")
    tags = _PERCENT_TAGS.search(options or "")
    return {
        "cell_type": "code" if kind is None else "markdown",
        "metadata": {"tags": _tags(tags.group(1))} if tags else {},
        # Blank lines before the next marker separate cells; they are no code.
        "source": "\n".join(body).rstrip("\n"),
    }


def _percent_header(lines: list[str]) -> tuple[int, dict[str, Any] | None]:
    """Where the cells start after jupytext's header (a shebang, an encoding, a commented YAML
    block and one blank line after it), and the cell that its non-Jupyter YAML becomes."""
    start = 0
    yaml: list[str] = []
    started = in_jupyter = False
    for number, line in enumerate(lines):
        if number == 0 and line.startswith("#!"):
            start = 1
            continue
        if (number == 0 or (number == 1 and not _ENCODING.match(lines[0]))) and _ENCODING.match(
            line
        ):
            start = number + 1
            continue
        if not line.startswith("#"):
            break
        content = re.sub(r"^# ?", "", line)
        if re.match(r"---\s*$", content):
            if not started:
                started = True
                continue
            following = lines[number + 1] if number + 1 < len(lines) else None
            blank = following is not None and not re.sub(r"^# ?", "", following).strip()
            cell = {"cell_type": "raw", "metadata": {}, "source": ""} if yaml else None
            return number + (2 if blank else 1), cell
        if not started and content.strip():
            break
        if re.match(r"jupyter\s*:\s*$", content):
            in_jupyter = True
        elif content and not content[0].isspace():
            in_jupyter = False
        if not in_jupyter:
            yaml.append(content)
    return start, None


def _quote_after(line: str, triple: str | None) -> str | None:
    """The triple quote left open after ``line``, given the one open before it: jupytext's
    StringParser, for Python, so that a marker inside a string does not start a cell."""
    if triple is None and line.lstrip().startswith("#"):
        return None
    single: str | None = None
    last_triple = -1
    for i, char in enumerate(line):
        if single is None and triple is None and char == "#":
            break
        if char not in "\"'" or line[i - 1 : i] == "\\":
            continue
        if single == char:
            single = None
        elif single is None:
            if line[i - 2 : i + 1] == 3 * char and i >= last_triple + 3:
                if triple == char:
                    triple, last_triple = None, i
                elif triple is None:
                    triple, last_triple = char, i
            elif triple is None:
                single = char
    return triple


def _tags(option: str) -> list[str]:
    """A ``tags=[...]`` option's tags; none if it is not a JSON list of strings."""
    try:
        tags = json.loads(option)
    except ValueError:
        return []
    return [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []


def graded_cell(cell: Any) -> bool:
    """Whether grading a notebook runs this code cell: not if it is tagged ``skip-grading``
    (plots, demos) or is an nbgrader test cell."""
    tags = _mapping(cell.get("metadata")).get("tags", [])
    return not ((isinstance(tags, list) and SKIP_TAG in tags) or is_test_cell(cell))


def ungraded_sources(notebook: Any) -> set[str]:
    """The code of the cells that grading ``notebook`` (JSON data) leaves out, stripped, but
    none that a graded cell also holds: code that a kernel which ran the notebook may leave
    out too when it is graded."""
    graded: set[str] = set()
    ungraded: set[str] = set()
    cells = _mapping(notebook).get("cells")
    for index, cell in enumerate(cells if isinstance(cells, list) else []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        with contextlib.suppress(SubmissionError):
            source = _source(Path("notebook"), index, cell.get("source", "")).strip()
            (graded if graded_cell(cell) else ungraded).add(source)
    return ungraded - graded


def is_test_cell(cell: Any) -> bool:
    """nbgrader's autograder test cells: graded, but not written by the student."""
    meta = _mapping(_mapping(cell.get("metadata")).get("nbgrader"))
    return bool(meta.get("grade")) and not meta.get("solution", False)


def _mapping(value: Any) -> Any:
    """``value`` if it is a mapping, else an empty one: notebook metadata is the student's."""
    return value if isinstance(value, dict) else {}


def _source(path: Path, index: int, source: Any) -> str:
    """A cell's source: text, or a list of lines of text (anything else is no code)."""
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise SubmissionError(f"{path} is not a valid notebook: cell {index + 1}'s source is not text")


def _from_notebook(path: Path, notebook: Any, *, is_notebook: bool) -> Submission:
    cells = []
    checks_cell = None
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = _source(path, index, cell.get("source", ""))
        if checks_cell is None and (call := handout.find_call(source)) is not None:
            # Data for the grader, not code of the student's: read, never run.
            checks_cell = call
            continue
        if not graded_cell(cell):
            continue
        if source.lstrip().startswith("%%"):
            continue
        cells.append(Cell(index, _MAGIC.sub(r"\1pass", source)))
    lab = metadata_lab(notebook)
    if lab is None and checks_cell is not None:
        lab = handout.lab_of(checks_cell)
    return Submission(path, cells, lab, is_notebook, checks_cell)


def metadata_lab(notebook: Any) -> str | None:
    """The lab a notebook's metadata names (``metadata.deepgrade.lab``), if it names one."""
    lab = _mapping(_mapping(notebook.get("metadata")).get("deepgrade")).get("lab")
    return lab if isinstance(lab, str) else None
