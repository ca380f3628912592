"""A kernel's check cells share one worker template, load their lab once per version of its
files and leave out the plots that grading the notebook's file leaves out, yet each check
cell's code still runs in workers of its own."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from deepgrade.engine.loader import SKIP_TAG, load_submission
from deepgrade.engine.validation import GradingRequest
from deepgrade.model.spec import LabLocation, load_lab
from deepgrade.notebook import check_cell
from deepgrade.sandbox import process, templates
from tests.helpers import LAB2_SOLUTION, ROOT

pytestmark = pytest.mark.lab2


def test_check_cells_share_one_template_and_fork_workers_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = ["", *load_submission(LAB2_SOLUTION).sources, 'check("lab2.relu")']
    monkeypatch.setattr(check_cell, "_history", lambda: history)
    launched: list[templates.WorkerTemplate] = []
    taken: list[templates.WorkerTemplate] = []
    forked: list[int] = []
    launch, take = templates.WorkerTemplate.launch, templates.TEMPLATES.take
    start = process.WorkerProcess.start

    def counted_launch(template: templates.WorkerTemplate) -> None:
        launched.append(template)
        launch(template)

    def recorded_take(*args: Any) -> templates.WorkerTemplate:
        taken.append(take(*args))
        return taken[-1]

    def recorded_start(worker: process.WorkerProcess) -> None:
        start(worker)
        forked.append(worker.pid)

    monkeypatch.setattr(templates.WorkerTemplate, "launch", counted_launch)
    monkeypatch.setattr(templates.TEMPLATES, "take", recorded_take)
    monkeypatch.setattr(process.WorkerProcess, "start", recorded_start)
    assert check_cell.check("lab2.relu", device="cpu") == 2.0
    assert check_cell.check("lab2.relu", device="cpu") == 2.0
    # One template for both cells (none launched if an earlier test left one idle)...
    assert len(launched) <= 1 and len(taken) == 4 and len({id(t) for t in taken}) == 1
    # ...and for public and hidden checks, twice, a fresh worker each time (never the kernel).
    assert len(set(forked)) == 4 and os.getpid() not in forked


def test_a_kernels_lab_is_loaded_again_only_when_its_files_change(tmp_path: Path) -> None:
    course = tmp_path / "autograder"
    folder = shutil.copytree(ROOT / "autograder" / "lab2_activations", course / "lab2_activations")
    request = GradingRequest(LabLocation("lab2", folder), (), None, include_hidden=True)
    first = check_cell.lab_of(request)
    assert check_cell.lab_of(request) is first
    public = GradingRequest(LabLocation("lab2", folder), (), None, include_hidden=False)
    assert first.has_hidden and not check_cell.lab_of(public).has_hidden
    # The files' parsed data is shared, never changed: loading again merges hidden checks once.
    again = load_lab(folder)
    assert [len(e.checks) for e in again.exercises] == [len(e.checks) for e in first.exercises]

    lab_toml = folder / "lab.toml"
    text = lab_toml.read_text(encoding="utf-8")
    assert f'title = "{first.title}"' in text
    lab_toml.write_text(text.replace(first.title, "Edited", 1), encoding="utf-8")
    edited = check_cell.lab_of(request)
    assert edited.title == "Edited" and edited.version != first.version
    assert check_cell.lab_of(request) is edited

    # The references are part of a lab's version: changed ones load the lab afresh.
    with (folder / "references.py").open("a", encoding="utf-8") as references:
        references.write("\n# edited\n")
    assert check_cell.lab_of(request) is not edited


def test_cells_that_grading_the_file_leaves_out_are_left_out_of_the_kernels_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Where the kernel knows its notebook file: its plots are not run again at each check."""

    def code(source: str, *tags: str) -> dict[str, Any]:
        metadata = {"tags": list(tags)} if tags else {}
        return {"cell_type": "code", "source": source, "metadata": metadata, "outputs": []}

    cells = [
        code("import torch"),
        code("plot(sigmoid)", SKIP_TAG),
        code("x = 1", SKIP_TAG),
        code("x = 1"),
        code("demo()", SKIP_TAG),
    ]
    notebook = tmp_path / "lab2_activations.ipynb"
    notebook.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": cells}))
    # A plot as the file has it; "x = 1" also in a graded cell; the demo as the kernel changed it.
    history = ["", "import torch\n", "plot(sigmoid)\n", "x = 1", "demo(fast=True)"]
    monkeypatch.setattr(check_cell, "_history", lambda: history)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    unknown = check_cell.history_submission("lab2")
    assert unknown is not None and len(unknown.cells) == 4
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    known = check_cell.history_submission("lab2")
    assert known is not None
    assert known.sources == ["import torch\n", "x = 1", "demo(fast=True)"]
    assert [cell.label for cell in known.cells] == ["In [1]", "In [3]", "In [4]"]
