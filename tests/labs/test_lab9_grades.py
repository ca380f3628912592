"""Lab 9's grades: the solution scores full marks, the stubs zero, each planted bug exactly
the points it should lose on the exercise it touches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import exercise, needs_cuda
from tests.labs.lab9 import BUGS, LAB

pytestmark = pytest.mark.lab9


@pytest.mark.slow
@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    result = LAB.grade_solution(path)
    # The task's loss curve is kept for reports: one float per batch, 8 epochs of 31 batches.
    task = exercise(result, "lab9.train_sine_rnn").checks[0]
    assert len(task.series["loss"]) == 8 * 31


@LAB.each_stub
def test_released_stubs_score_zero(path: Path) -> None:
    messages = {
        "lab9.RNNCell": "Lab 9: implement RNNCell.__init__",
        "lab9.clip_grad_norm": "Lab 9: implement clip_grad_norm",
    }
    LAB.grade_stub(path, messages)


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_loses_exactly_its_points(bug: str, tmp_path: Path) -> None:
    LAB.grade_bug(BUGS[bug], tmp_path)


def test_there_are_at_least_twelve_bugs() -> None:
    assert len(BUGS) >= 12


@needs_cuda
def test_solution_scores_full_marks_on_cuda() -> None:
    LAB.grade_solution_on_cuda()
