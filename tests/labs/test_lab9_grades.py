"""Lab 9's grades: the solution scores full marks, the stubs zero, each planted bug exactly
the points it should lose (and nothing elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.labs.lab9 import BUGS, LAB

pytestmark = pytest.mark.lab9


@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    LAB.grade_solution(path)


@LAB.each_stub
def test_released_stubs_score_zero(path: Path) -> None:
    LAB.grade_stub(path, {"lab9.scale": "Lab 9: implement scale"})


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_loses_exactly_its_points(bug: str, tmp_path: Path) -> None:
    LAB.grade_bug(BUGS[bug], tmp_path, whole_lab=True)
