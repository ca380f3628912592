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
