"""Lab 3's grades: the solution scores full marks, the stubs zero, each planted bug exactly
the points it should lose (graded on the exercises it touches only, to keep the suite fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Grader, check_bug, needs_cuda
from tests.labs.lab3 import BUGS, LAB, ROUNDS, graded_bug

pytestmark = pytest.mark.lab3


@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    LAB.grade_solution(path)


@LAB.each_stub
def test_released_stubs_score_zero(path: Path) -> None:
    # Every exercise is a stub that raises NotImplementedError: none is a value left empty.
    messages = {
        "lab3.mse_loss": "Lab 3: implement MSELoss.forward",
        "lab3.one_hot": "Lab 3: implement one_hot",
    }
    LAB.grade_stub(path, messages)


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_loses_exactly_its_points(bug: str, grade_text: Grader) -> None:
    check_bug(graded_bug(bug, grade_text), BUGS[bug])


def test_bug_rounds_touch_disjoint_exercises() -> None:
    for group in ROUNDS:
        touched = [e for name in group for e in BUGS[name].score]
        assert len(touched) == len(set(touched))
    assert sorted(name for group in ROUNDS for name in group) == sorted(BUGS)


def test_there_are_at_least_ten_bugs() -> None:
    assert len(BUGS) >= 10


@needs_cuda
def test_solution_scores_full_marks_on_cuda() -> None:
    LAB.grade_solution_on_cuda()
