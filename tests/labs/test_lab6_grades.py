"""Lab 6's grades: the solution scores full marks, the stubs zero, each planted bug exactly
the points it should lose on the exercise it touches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import (
    Grader,
    exercise,
    needs_cuda,
    patched,
    scores,
    statuses,
)
from tests.labs.lab6 import BUGS, LAB

pytestmark = pytest.mark.lab6


@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    result = LAB.grade_solution(path)
    # The tasks' loss curves are kept for reports: one float per epoch.
    affine = exercise(result, "lab6.train_affine").checks[0]
    assert len(affine.series["loss"]) == 20


def test_released_stub_scores_zero() -> None:
    messages = {
        "lab6.SGD": "Lab 6: implement SGD.__init__",
        "lab6.train_xor": "Lab 6: implement train_xor",
    }
    LAB.grade_stub(LAB.stub, messages)


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_loses_exactly_its_points(bug: str, tmp_path: Path) -> None:
    LAB.grade_bug(BUGS[bug], tmp_path)


@pytest.mark.slow
def test_a_task_past_its_time_budget_times_out(grade_text: Grader) -> None:
    # An endless loop: the submission's budget (a few seconds here) runs out inside the task.
    source = patched(
        LAB.solution.read_text(encoding="utf-8"),
        [("    for _ in range(200):\n", "    while True:\n")],
    )
    settings = LAB.settings.model_copy(update={"submission_timeout": 5.0})
    result = grade_text(source, name=LAB.name, exercises=["lab6.train_xor"], settings=settings)
    assert scores(result) == {"lab6.train_xor": 0.0}
    assert statuses(result) == {"lab6.train_xor": "timeout"}


def test_there_are_at_least_ten_bugs() -> None:
    assert len(BUGS) >= 10


@needs_cuda
def test_solution_scores_full_marks_on_cuda() -> None:
    LAB.grade_solution_on_cuda()
