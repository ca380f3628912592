"""Fuzzing the loader: any file a student hands in is read into cells of text, or refused with a
SubmissionError; never a traceback of the grader (issue 17)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from hypothesis import given
from hypothesis import strategies as st

from deepgrade.engine.loader import Submission, load_submission
from deepgrade.errors import SubmissionError

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
# Any JSON value, nested a few levels.
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
sources = st.text() | st.lists(st.text(), max_size=3) | json_values
cells = st.fixed_dictionaries(
    {},
    optional={
        "cell_type": st.sampled_from(["code", "markdown", "raw"]) | json_values,
        "source": sources,
        "metadata": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "tags": json_values | st.lists(st.sampled_from(["skip-grading", "x"])),
                "nbgrader": json_values,
            },
        ),
        "outputs": json_values,
    },
)
lab_metadata = json_values | st.fixed_dictionaries({"lab": json_values})
notebooks = st.fixed_dictionaries(
    {},
    optional={
        "nbformat": st.sampled_from([1, 2, 3, 4, 5, 4.0, "4"]) | json_values,
        "nbformat_minor": json_values,
        "cells": st.lists(cells, max_size=4) | json_values,
        "worksheets": st.lists(st.fixed_dictionaries({"cells": st.lists(cells, max_size=3)})),
        "metadata": json_values
        | st.fixed_dictionaries(
            {"deepgrade": json_values | st.fixed_dictionaries({"lab": json_values})}
        ),
    },
)


# Close to a real notebook: version 4, a list of cells, mostly code.
code_cells = st.fixed_dictionaries(
    {"cell_type": st.just("code"), "source": sources},
    optional={"metadata": json_values | st.fixed_dictionaries({"tags": json_values})},
)
near_notebooks = st.fixed_dictionaries(
    {
        "nbformat": st.just(4),
        "nbformat_minor": st.integers(0, 5),
        "cells": st.lists(code_cells | cells, min_size=1, max_size=4),
        "metadata": json_values,
    }
)


def _load(name: str, data: bytes) -> None:
    """Load ``data`` as a file named ``name``: cells of text, or a SubmissionError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            submission = load_submission(path)
        except SubmissionError:
            return
    assert all(isinstance(cell.source, str) for cell in submission.cells)
    assert submission.lab_hint is None or isinstance(submission.lab_hint, str)


@given(notebooks | near_notebooks)
def test_odd_notebooks_are_read_or_refused(notebook: dict[str, Any]) -> None:
    _load("lab.ipynb", json.dumps(notebook).encode())


@given(json_values)
def test_any_json_is_read_or_refused(value: Any) -> None:
    _load("lab.ipynb", json.dumps(value).encode())


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_read_or_refused(data: bytes) -> None:
    _load("lab.ipynb", data)
    _load("lab.py", data)


@given(st.lists(st.text(max_size=30) | st.sampled_from(["# %%", "# %% [markdown]", "%%bash"])))
def test_percent_scripts_are_read_or_refused(lines: list[str]) -> None:
    _load("lab.py", "\n".join(["# %%", *lines]).encode())


# Lines that make jupytext's percent format hard to read: markers of each kind, indented or in
# a string, magics, a YAML header, a shebang and an encoding line, code and blank lines.
PERCENT_LINES = [
    *["# %%", "#%%", "    # %%", "# %% title", "# %%% x", "# In[3]:", "# <codecell>"],
    *["# %% [markdown]", "# %% [raw]", '# %% tags=["skip-grading"]', '# %% [md] tags=["a"]'],
    *["x = 1", "", "  ", "# comment", "def f():", "    return 1", "%time x", "# %matplotlib"],
    *["'''", '"""', "s = '''a", "b'''", "x = \"'''\"", "# ---", "# jupyter:", "# title: t"],
    *["#!/usr/bin/env python", "# -*- coding: utf-8 -*-"],
]


@given(st.lists(st.sampled_from(PERCENT_LINES), max_size=14))
def test_percent_scripts_are_read_as_jupytext_reads_them(lines: list[str]) -> None:
    """The same cells, numbered alike, with the same code on the same lines (jupytext turns a
    commented magic into one that the loader then turns into `pass`: both are no code)."""
    import jupytext

    text = "\n".join([*lines, "# %%"])
    notebook = jupytext.reads(text, fmt="py:percent")
    with tempfile.TemporaryDirectory() as folder:
        path, reference = Path(folder) / "lab.py", Path(folder) / "reference.ipynb"
        path.write_text(text, encoding="utf-8")
        nbformat.write(notebook, reference)
        assert _code(load_submission(path)) == _code(load_submission(reference))


def _code(submission: Submission) -> list[tuple[int, str]]:
    """Each cell's number and code lines, comments and `pass` blanked, trailing blanks cut."""
    cells = []
    for cell in submission.cells:
        code = [
            "" if line.strip() == "pass" or line.lstrip().startswith("#") else line
            for line in cell.source.split("\n")
        ]
        cells.append((cell.index, "\n".join(code).rstrip()))
    return cells


def test_deeply_nested_or_huge_notebooks_are_refused() -> None:
    """JSON nested past Python's recursion limit, and a notebook over the size limit."""
    for data in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"nbformat": 4, "cells": [], "metadata": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001,
    ):
        _load("lab.ipynb", data)
    _load("lab.ipynb", b'{"cells": "' + b"x" * (9 << 20) + b'"}')


def test_a_source_of_numbers_is_refused() -> None:
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
    notebook["cells"] = [{"cell_type": "code", "metadata": {}, "source": [1, 2, 3]}]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lab.ipynb"
        path.write_text(json.dumps(notebook), encoding="utf-8")
        try:
            load_submission(path)
        except SubmissionError as refused:
            assert "cell 1" in str(refused)
        else:
            raise AssertionError("a source of numbers was accepted")
