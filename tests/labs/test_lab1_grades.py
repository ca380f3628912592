"""Lab 1's grades: the solution scores full marks, the stubs zero, each planted bug exactly
the points it should lose (graded on the exercises it touches only, to keep the suite fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Grader, exercise, needs_cuda, patched, scores, statuses
from tests.labs.lab1 import BUGS, LAB

pytestmark = pytest.mark.lab1


@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    LAB.grade_solution(path)


@LAB.each_stub
def test_released_stubs_score_zero(path: Path) -> None:
    LAB.grade_stub(path, {"lab1.predict": "Lab 1: implement predict"})


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_loses_exactly_its_points(bug: str, tmp_path: Path) -> None:
    LAB.grade_bug(BUGS[bug], tmp_path)


def test_there_are_at_least_ten_bugs() -> None:
    assert len(BUGS) >= 10


@needs_cuda
def test_solution_scores_full_marks_on_cuda() -> None:
    LAB.grade_solution_on_cuda()


@needs_cuda
def test_column_of_ones_left_on_the_cpu_fails_on_cuda(grade_text: Grader) -> None:
    """``torch.ones(n, 1)`` without dtype and device: on the CPU, torch.cat's type promotion
    makes it harmless (full marks there); on CUDA it mixes devices and every check errors."""
    source = patched(
        LAB.solution.read_text(encoding="utf-8"),
        [
            (
                "    ones = torch.ones(n, 1, dtype=X.dtype, device=X.device)\n",
                "    ones = torch.ones(n, 1)\n",
            )
        ],
    )
    on_cpu = grade_text(source, name=LAB.name, exercises=["lab1.least_squares"])
    assert scores(on_cpu) == {"lab1.least_squares": 3.0}
    on_cuda = grade_text(source, name=LAB.name, exercises=["lab1.least_squares"], device="cuda")
    assert scores(on_cuda) == {"lab1.least_squares": 0.0}
    assert statuses(on_cuda) == {"lab1.least_squares": "error"}
    assert "same device" in exercise(on_cuda, "lab1.least_squares").message
