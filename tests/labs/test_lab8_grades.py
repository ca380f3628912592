"""Lab 8's grades: the solution scores full marks, the stubs zero, each planted bug exactly
the points it should lose on the exercise it touches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import exercise, needs_cuda
from tests.labs.lab8 import BUGS, LAB

pytestmark = pytest.mark.lab8


@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    result = LAB.grade_solution(path)
    # The task's loss curve is kept for reports: one float per epoch.
    task = exercise(result, "lab8.train_digits_cnn").checks[0]
    assert len(task.series["loss"]) == 15


@LAB.each_stub
def test_released_stubs_score_zero(path: Path) -> None:
    messages = {
        "lab8.conv2d": "Lab 8: implement Conv2dFunction.forward",
        "lab8.train_digits_cnn": "Lab 8: implement train_digits_cnn",
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
