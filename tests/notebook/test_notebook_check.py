"""``check()`` in a notebook grades what the kernel ran, in a worker, and prints the result."""

from __future__ import annotations

import pytest

from deepgrade.engine.loader import load_submission
from deepgrade.notebook import check_cell as notebook
from tests.helpers import LAB2_SOLUTION

pytestmark = pytest.mark.lab2


def test_check_grades_the_kernel_history(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = load_submission(LAB2_SOLUTION).sources
    broken = [c.replace("torch.where(x > 0, grad_output, 0.0)", "grad_output") for c in cells]
    history = [
        "",
        *broken,
        "%matplotlib inline",
        'from deepgrade.notebook import check\ncheck("lab2.relu")',
    ]
    monkeypatch.setattr(notebook, "_history", lambda: history)
    notebook.check("lab2.relu", device="cpu")
    out = capsys.readouterr().out
    assert "lab2.relu" in out
    assert "failed" in out
    assert "backward at the kink" in out


def test_check_does_nothing_inside_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPGRADE_IN_WORKER", "1")
    monkeypatch.setattr(notebook, "_history", lambda: pytest.fail("must not grade"))
    notebook.check("lab2.relu")


def test_check_cells_point_at_the_kernels_cells_and_say_isolation_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = load_submission(LAB2_SOLUTION).sources
    broken = [
        c.replace("return torch.where(x < 0, 0.0, x)", "return torch.clamp(x, mn=0)") for c in cells
    ]
    assert broken != cells
    history = ["", *broken, 'check("lab2.relu")']
    monkeypatch.setattr(notebook, "_history", lambda: history)
    monkeypatch.setattr(notebook, "_isolation_told", False)
    notebook.check("lab2.relu", device="cpu")
    first = capsys.readouterr().out
    # The frame is the kernel's cell as Jupyter shows it, with the line the student wrote.
    n = next(i for i, c in enumerate(history) if "mn=0" in c)
    assert f"In [{n}], line" in first and "torch.clamp(x, mn=0)" in first
    assert "drivers.py" not in first and "worker" not in first
    notebook.check("lab2.relu", device="cpu")
    second = capsys.readouterr().out
    assert first.count("isolation:") == 1
    assert "isolation:" not in second
