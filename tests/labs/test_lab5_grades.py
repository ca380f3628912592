"""Lab 5's grades: the solution scores full marks, the stubs zero, each planted bug exactly
the points it should lose on the exercise it touches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import exercise, needs_cuda
from tests.labs.lab5 import BUGS, LAB

pytestmark = pytest.mark.lab5


@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    LAB.grade_solution(path)


@LAB.each_stub
def test_released_stubs_score_zero(path: Path) -> None:
    messages = {
        "lab5.Linear": "Lab 5: implement Linear.__init__",
        "lab5.perceptron_train": "Lab 5: implement perceptron_train",
    }
    LAB.grade_stub(path, messages)


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_loses_exactly_its_points(bug: str, tmp_path: Path) -> None:
    result = LAB.grade_bug(BUGS[bug], tmp_path)
    # None of these bugs is a constant factor; a 0/1 output of zeros must not be called one.
    for exercise_id in BUGS[bug].score:
        assert "constant factor" not in exercise(result, exercise_id).message


def test_there_are_at_least_ten_bugs() -> None:
    assert len(BUGS) >= 10


@needs_cuda
def test_solution_scores_full_marks_on_cuda() -> None:
    LAB.grade_solution_on_cuda()
