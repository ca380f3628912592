"""Where in the student's own code something happened, said the way the student finds it.

The worker compiles each cell under the file name ``<cell 7>`` (``<In [5]>`` for a kernel's
history, ``<lab2_activations.py>`` for a plain module: see :class:`Cell`), so the frames of a
traceback and the detector's reports name cells. Here those names become what a student reads:
``cell 7, line 3, in sigmoid: return 1 / (1 + torch.exp(x))``.

Only the student's frames are kept: the worker's, its drivers' and the libraries' (PyTorch
internals below the student's last frame) are dropped, since nothing in them is the student's
to change; the exception's type and message already say what the library objected to. The
line's text comes from the grader's own copy of the submission, not from the worker.
"""

from __future__ import annotations

import re

from deepgrade.engine.loader import Cell, Submission

# A frame of Python's traceback text; the worker's text is the submission's to forge, so each
# part is bounded and only names of the submission's own cells are believed.
_FRAME = re.compile(
    r'^  File "<(?P<file>[^"\n]{1,200})>", line (?P<line>\d{1,7})'
    r"(?:, in (?P<scope>[\w<>.]{1,100}))?$",
    re.MULTILINE,
)
# The detector's report of where a forbidden call was made: ``(<cell 7>, line 3)``.
_REPORTED = re.compile(r"\(<(?P<file>[^\n>]{1,200})>, line (?P<line>\d{1,7})\)")
# The innermost frames shown: enough to follow a helper into the function that failed.
MAX_FRAMES = 3
_MAX_LINE = 160
_AT = "\n  at "


def in_cell(cell: Cell, line: int) -> str:
    """``cell 7, line 3: <the line's text>`` (no text for a line the cell does not have)."""
    lines = cell.source.splitlines()
    text = lines[line - 1].strip() if 1 <= line <= len(lines) else ""
    shown = text if len(text) <= _MAX_LINE else text[: _MAX_LINE - 3] + "..."
    return f"{cell.label}, line {line}" + (f": {shown}" if shown else "")


def place(submission: Submission, label: str, line: int) -> str | None:
    """Where ``line`` of the cell named ``label`` is (see :func:`in_cell`), or ``None`` if the
    submission has no such line."""
    cell = next((c for c in submission.cells if c.label == label), None)
    if cell is None or not 1 <= line <= len(cell.source.splitlines()):
        return None
    return in_cell(cell, line)


def student_frames(submission: Submission, traceback: str) -> list[str]:
    """The frames of ``traceback`` in the submission's code, innermost last, at most
    :data:`MAX_FRAMES` of them, each as :func:`place` words it (with the function's name)."""
    frames = []
    for match in _FRAME.finditer(traceback):
        where = place(submission, match["file"], int(match["line"]))
        if where is None:
            continue
        scope = match["scope"]
        if scope and scope != "<module>":
            label, _, text = where.partition(": ")
            where = f"{label}, in {scope}" + (f": {text}" if text else "")
        frames.append(where)
    return frames[-MAX_FRAMES:]


def located(submission: Submission, traceback: str) -> str:
    """The student's frames of ``traceback`` as lines to add under an error's message, or
    ``""`` when none is in the submission's code."""
    return "".join(f"{_AT}{frame}" for frame in student_frames(submission, traceback))


def unlocated(message: str) -> str:
    """``message`` without the frames that :func:`located` added to it."""
    return message.partition(_AT)[0]


def reported(submission: Submission, text: str) -> str:
    """``text`` (a detector's report) with each ``(<cell 7>, line 3)`` worded as
    :func:`place` does; a name that is no cell of the submission is left as it is."""

    def replace(match: re.Match[str]) -> str:
        where = place(submission, match["file"], int(match["line"]))
        return f"({where})" if where is not None else match[0]

    return _REPORTED.sub(replace, text)
