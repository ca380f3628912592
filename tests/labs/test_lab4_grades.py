"""Lab 4's grades: the solution scores full marks, the stub zero, each planted bug exactly
the points it should lose (graded on the exercises it touches only, to keep the suite fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepgrade.engine.forbidden import scan
from deepgrade.model.spec import load_lab
from tests.helpers import needs_cuda, patched
from tests.labs.lab4 import BUGS, LAB, LINEAR, MLP2, MLP2_FORWARD, NUMERIC, VALUE

pytestmark = pytest.mark.lab4


@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    LAB.grade_solution(path)


def test_released_stub_scores_zero() -> None:
    # Every exercise is a stub that raises NotImplementedError: none is a value left empty.
    messages = {
        VALUE: "Lab 4: implement Value.__init__",
        LINEAR: "Lab 4: implement LinearFunction.forward",
    }
    LAB.grade_stub(LAB.stub, messages)


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_loses_exactly_its_points(bug: str, tmp_path: Path) -> None:
    LAB.grade_bug(BUGS[bug], tmp_path)


def test_there_are_at_least_ten_bugs() -> None:
    assert len(BUGS) >= 10


# The source scan on its own (no worker): each way of calling autograd is found by name.
@pytest.mark.parametrize(
    ("exercise_id", "anchor", "call", "name"),
    [
        (MLP2, MLP2_FORWARD, "loss.backward()", "backward"),
        (MLP2, MLP2_FORWARD, "torch.autograd.grad(loss, [W1, b1, W2, b2])", "grad"),
        (MLP2, MLP2_FORWARD, "W1.requires_grad = True", "requires_grad"),
        (NUMERIC, "    slopes = []\n", "x.requires_grad_(True)", "requires_grad_"),
        (NUMERIC, "    slopes = []\n", "torch.autograd.grad(f(x), x)", "grad"),
    ],
)
def test_source_scan_finds_autograd(exercise_id: str, anchor: str, call: str, name: str) -> None:
    spec = load_lab(LAB.checks).exercise(exercise_id)
    source = LAB.solution.read_text(encoding="utf-8")
    assert scan([source], spec.requires, spec.forbidden) == []
    findings = scan(
        [patched(source, [(anchor, f"    {call}\n" + anchor)])], spec.requires, spec.forbidden
    )
    assert [finding.name for finding in findings] == [name]
    assert findings[0].scope == spec.requires[0]


@needs_cuda
def test_solution_scores_full_marks_on_cuda() -> None:
    LAB.grade_solution_on_cuda()
