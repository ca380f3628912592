"""Reading submissions, and the generated course files staying in sync with the solutions."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from deepgrade.engine.loader import load_submission
from deepgrade.errors import SpecError, SubmissionError
from deepgrade.staff.authoring import build_course, stub_source
from tests.helpers import LAB2_SOLUTION, LAB2_STUB, ROOT


def notebook(tmp_path: Path, cells: list[nbformat.NotebookNode], version: int = 4) -> Path:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["deepgrade"] = {"lab": "lab2"}
    path = tmp_path / "work.ipynb"
    nbformat.write(nb, path)
    return path


def test_notebook_cells_skip_tests_tags_and_magics(tmp_path: Path) -> None:
    test_cell = nbformat.v4.new_code_cell("assert False")
    test_cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "grade_id": "t",
        "points": 1,
    }
    plot = nbformat.v4.new_code_cell("plot()")
    plot.metadata["tags"] = ["skip-grading"]
    cells = [
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("%matplotlib inline\nx = 1\n!pip install foo"),
        test_cell,
        plot,
        nbformat.v4.new_code_cell("%%timeit\ny = 2"),
        nbformat.v4.new_code_cell("z = 3"),
    ]
    submission = load_submission(notebook(tmp_path, cells))
    assert submission.lab_hint == "lab2"
    assert [c.index for c in submission.cells] == [1, 5]
    assert submission.cells[0].source == "pass\nx = 1\npass"


def test_old_notebook_format_is_upgraded(tmp_path: Path) -> None:
    old = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "input": "a = 1",
                        "outputs": [],
                        "language": "python",
                        "metadata": {},
                    }
                ],
                "metadata": {},
            }
        ],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(old), encoding="utf-8")
    assert load_submission(path).sources == ["a = 1"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.ipynb", b"{ not json", "is not a valid notebook"),
        ("cells.ipynb", b'{"nbformat": 4, "cells": [1, 2]}', "its cells are not a list of cells"),
        ("none.ipynb", b'{"nbformat": 4}', "its cells are not a list of cells"),
        ("bad.py", b"x = '\xff\xfe'", "is not UTF-8 text"),
        ("bad.txt", b"x = 1", "expected a notebook (.ipynb) or a Python module (.py)"),
    ],
)
def test_unreadable_submissions(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SubmissionError, match=re.escape(message)):
        load_submission(path)


def test_odd_metadata_is_ignored_rather_than_a_crash(tmp_path: Path) -> None:
    notebook = {
        "nbformat": 4,
        "metadata": ["not", "a", "mapping"],
        "cells": [
            {"cell_type": "code", "metadata": 3, "source": "a = 1"},
            {"cell_type": "code", "metadata": {"tags": "skip", "nbgrader": []}, "source": "b = 2"},
        ],
    }
    path = tmp_path / "odd.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    submission = load_submission(path)
    assert submission.sources == ["a = 1", "b = 2"]
    assert submission.lab_hint is None


def test_percent_module_keeps_only_graded_cells() -> None:
    submission = load_submission(LAB2_SOLUTION)
    joined = "\n".join(submission.sources)
    assert "class Sigmoid(Function)" in joined
    assert "plot_activation(" not in joined
    assert "deepgrade" not in joined


COURSE_MODULES = sorted([*ROOT.glob("solutions/*/*.py"), *ROOT.glob("exercises/*/*.py")])
PERCENT_CASES = {
    "code before the first marker": "import torch\n\nx = 1\n\n# %%\ny = 2\n\n\n# %% [markdown]\n",
    "titles, blank lines, markers": "# %% Setup\na = 1\n#%%\n\n\nb = 2\n\n# %% [md]\n# m\n# %%",
    "tags and other options": '# %% [raw]\nraw\n# %% tags=["skip-grading", "x"] key="v"\nc = 3\n',
    "a comment before the first marker": "# only a comment\n\n# %%\nx = 1\n",
}


@pytest.mark.parametrize(
    "text",
    [
        *PERCENT_CASES.values(),
        *(path.read_text(encoding="utf-8") for path in COURSE_MODULES),
    ],
    ids=[
        *PERCENT_CASES,
        *(path.stem + path.parts[-3][0] for path in COURSE_MODULES),
    ],
)
def test_percent_modules_are_read_as_jupytext_reads_them(tmp_path: Path, text: str) -> None:
    """The loader reads the percent format itself (no jupytext in the student package): the same
    cells, with the same numbers and code, as through jupytext."""
    import jupytext

    path = tmp_path / "work.py"
    path.write_text(text, encoding="utf-8")
    reference = tmp_path / "reference.ipynb"
    nbformat.write(jupytext.reads(text, fmt="py:percent"), reference)
    assert load_submission(path).cells == load_submission(reference).cells


def test_old_notebook_format_without_nbformat_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.ipynb"
    path.write_text('{"nbformat": 3, "worksheets": []}', encoding="utf-8")
    # The student package has no nbformat: a None entry makes its import fail.
    monkeypatch.setitem(sys.modules, "nbformat", None)
    with pytest.raises(
        SubmissionError, match=r"not a notebook of format version 4 \(it says 3\): save it"
    ):
        load_submission(path)


def test_generated_files_are_up_to_date() -> None:
    stale = build_course(ROOT, write=False)
    assert stale == [], f"run `grade build` and commit: {stale}"


def test_stubs_hold_no_solution_code() -> None:
    stub = LAB2_STUB.read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in stub
    assert "torch.where(x >= 0, 1 / (1 + e), e / (1 + e))" not in stub
    assert 'raise NotImplementedError("Lab 2: implement Softmax.backward")' in stub
    assert stub.count("NotImplementedError(") == 22


def test_unbalanced_markers_are_refused() -> None:
    with pytest.raises(SpecError, match="unbalanced"):
        stub_source("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "Lab 9")
