"""Feedback points at the student's own line, in a notebook counted as the student counts it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepgrade.engine.grading import grade_submission
from tests.helpers import FAST, LAB2_SOLUTION_NB, exercise

pytestmark = pytest.mark.lab2


def _notebook(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """The solution notebook with a NameError in sigmoid's forward and np.tanh in Tanh; the
    cells of both, numbered as Jupyter lists them (markdown cells included, from 1)."""
    notebook = json.loads(LAB2_SOLUTION_NB.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    where = {}
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        if "class Sigmoid(Function)" in source:
            old = "y = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))"
            cell["source"] = source.replace(old, old.replace("e / (1 + e)", "e / (1 + e_neg)"))
            where["sigmoid"] = index + 1
        elif "class Tanh(Function)" in source:
            old = "y = torch.copysign(-torch.expm1(-2 * x.abs()) / (1 + e), x)"
            cell["source"] = "import numpy as np\n" + source.replace(
                old, "y = torch.from_numpy(np.tanh(x.detach().numpy()))"
            )
            where["tanh"] = index + 1
    assert any(cell["cell_type"] == "markdown" for cell in cells[: where["sigmoid"]])
    path = tmp_path / "lab2_activations.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path, where


def test_errors_and_forbidden_calls_name_the_cell_the_student_sees(tmp_path: Path) -> None:
    path, where = _notebook(tmp_path)
    result = grade_submission(
        path, exercises=["lab2.sigmoid", "lab2.tanh"], settings=FAST, device="cpu"
    )
    sigmoid = exercise(result, "lab2.sigmoid")
    assert sigmoid.status.value == "error"
    public = next(c for c in sigmoid.checks if not c.hidden)
    assert public.message.startswith("NameError: name 'e_neg' is not defined")
    # The student's frames only, innermost last, with the lines as written.
    assert f"at cell {where['sigmoid']}, line " in public.message
    assert "in forward: y = torch.where(x >= 0, 1 / (1 + e), e / (1 + e_neg))" in public.message
    assert "drivers.py" not in public.message and "site-packages" not in public.message
    # Which line raised on a hidden input is not told.
    hidden = next(c for c in sigmoid.checks if c.hidden)
    assert " at cell" not in hidden.message
    # A check that raised earns no hint about the derivative.
    assert all("Hint" not in c.message for c in sigmoid.checks)

    tanh = exercise(result, "lab2.tanh")
    assert tanh.status.value == "forbidden"
    assert tanh.message.startswith(
        f"np.tanh (numpy.tanh) called in Tanh (cell {where['tanh']}, line "
    )
    assert "build it from elementary tensor operations instead" in tanh.message
