"""Reading a submission (a notebook or a module) into the code cells the worker will run.

The grader reads and parses files itself; the worker only ever receives source text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepgrade.errors import SubmissionError
from deepgrade.model import handout

SKIP_TAG = "skip-grading"
_MAGIC = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)
_MAX_SOURCE_BYTES = 8 << 20


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
    text = _read_text(path)
    if path.suffix == ".ipynb":
        return _from_notebook(path, _read_notebook(path, text), is_notebook=True)
    if path.suffix == ".py":
        if "# %%" in text:
            import jupytext

            notebook = jupytext.reads(text, fmt="py:percent")
            return _from_notebook(path, notebook, is_notebook=False)
        return Submission(path, [Cell(0, text, path.name)], None, is_notebook=False)
    raise SubmissionError(f"{path}: expected a notebook (.ipynb) or a Python module (.py)")


def read_notebook(path: Path) -> Any:
    """A notebook file as JSON data (nbformat 4), read with a submission's bounds."""
    return _read_notebook(path, _read_text(path))


def _read_text(path: Path) -> str:
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
    if isinstance(notebook, dict) and notebook.get("nbformat") == 4:
        # Read as plain JSON: only cells and metadata are used, and importing nbformat costs
        # seconds (its schema validator compiles grammars), longer than grading a small lab.
        cells = notebook.get("cells")
        if isinstance(cells, list) and all(isinstance(cell, dict) for cell in cells):
            return notebook
        raise SubmissionError(f"{path} is not a valid notebook: its cells are not a list of cells")
    import nbformat

    try:
        # Older formats are converted to version 4.
        return nbformat.reads(text, as_version=4)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SubmissionError(f"{path} is not a valid notebook: {reason}") from None


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
        tags = _mapping(cell.get("metadata")).get("tags", [])
        if (isinstance(tags, list) and SKIP_TAG in tags) or is_test_cell(cell):
            continue
        if source.lstrip().startswith("%%"):
            continue
        cells.append(Cell(index, _MAGIC.sub(r"\1pass", source)))
    lab = _mapping(_mapping(notebook.get("metadata")).get("deepgrade")).get("lab")
    if not isinstance(lab, str) and checks_cell is not None:
        lab = handout.lab_of(checks_cell)
    return Submission(path, cells, lab if isinstance(lab, str) else None, is_notebook, checks_cell)
