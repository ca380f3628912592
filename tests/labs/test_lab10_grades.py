"""Lab 10's grades: the solution scores full marks, the stubs zero, each planted bug exactly
the points it should lose on the exercise it touches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import exercise, needs_cuda
from tests.labs.lab10 import BUGS, LAB

pytestmark = pytest.mark.lab10


@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    result = LAB.grade_solution(path)
    # The task's loss curve is kept for reports: one float per epoch.
    task = exercise(result, "lab10.train_sequence_task").checks[0]
    assert len(task.series["loss"]) == 8


def test_released_stub_scores_zero() -> None:
    messages = {
        "lab10.scaled_dot_product_attention": "Lab 10: implement scaled_dot_product_attention",
        "lab10.MultiHeadAttention": "Lab 10: implement MultiHeadAttention.__init__",
        "lab10.train_sequence_task": "Lab 10: implement train_sequence_task",
    }
    LAB.grade_stub(LAB.stub, messages)


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_loses_exactly_its_points(bug: str, tmp_path: Path) -> None:
    LAB.grade_bug(BUGS[bug], tmp_path)


def test_there_are_at_least_twelve_bugs() -> None:
    assert len(BUGS) >= 12


@needs_cuda
def test_solution_scores_full_marks_on_cuda() -> None:
    LAB.grade_solution_on_cuda()
