"""Lab 7's grades: the solution scores the 8 autograded points, the stubs zero, each planted bug
exactly the points it should lose; the 12 hand-graded points stay out of ``grade check`` and
reach nbgrader as manually graded answer cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepgrade.model.spec import load_lab
from tests.helpers import exercise, needs_cuda
from tests.labs.lab7 import BUGS, FULL, LAB, MANUAL

pytestmark = pytest.mark.lab7


# -- the solution, the stubs, the manual parts -----------------------------------------------------
@LAB.each_solution
def test_solution_scores_full_marks(path: Path) -> None:
    result = LAB.grade_solution(path)
    # Both runs (public seed 0 in float32, hidden seed 1 in float64) keep their curves for reports:
    # 30 epochs, the loss falling, the training accuracy a fraction.
    for check in exercise(result, "lab7.train_digits").checks:
        loss, accuracy = check.series["loss"], check.series["accuracy"]
        assert len(loss) == len(accuracy) == 30
        assert loss[-1] < loss[0] and 0.9 < accuracy[-1] <= 1.0


@LAB.each_stub
def test_released_stubs_score_zero(path: Path) -> None:
    messages = {
        "lab7.team": "Lab 7: implement team",
        "lab7.train_digits": "Lab 7: implement train_digits",
    }
    LAB.grade_stub(path, messages)


def test_manual_parts_are_not_autograded() -> None:
    lab = load_lab(LAB.checks)
    assert {part.id: part.points for part in lab.manual} == MANUAL
    assert {e.id: e.points for e in lab.exercises} == FULL
    assert lab.max_score == 8.0
    assert sum(MANUAL.values()) + lab.max_score == 20.0


@pytest.mark.parametrize("path", [LAB.stub_nb, LAB.solution_nb], ids=["student", "solution"])
def test_answer_cells_are_graded_by_hand_in_nbgrader(path: Path) -> None:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    answers = {}
    for cell in notebook["cells"]:
        tags = cell["metadata"].get("tags", [])
        parts = [tag.removeprefix("manual:") for tag in tags if tag.startswith("manual:")]
        if parts:
            assert cell["cell_type"] == "markdown"
            answers[parts[0]] = cell
    assert set(answers) == set(MANUAL)
    for part, cell in answers.items():
        meta = cell["metadata"]["nbgrader"]
        assert meta["grade"] is True and meta["solution"] is True and meta["task"] is False
        assert (meta["grade_id"], meta["points"]) == (part, MANUAL[part])
        text = "".join(cell["source"]).strip()
        if path == LAB.stub_nb:
            assert text == "YOUR ANSWER HERE"
        else:
            assert "YOUR ANSWER HERE" not in text and len(text) > 200


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUGS))
def test_planted_bug_loses_exactly_its_points(name: str, tmp_path: Path) -> None:
    LAB.grade_bug(BUGS[name], tmp_path)


def test_there_are_at_least_ten_bugs_that_cost_points() -> None:
    costly = [name for name, bug in BUGS.items() if any(bug.score[k] < FULL[k] for k in bug.score)]
    assert len(costly) >= 10


@needs_cuda
def test_solution_scores_full_marks_on_cuda() -> None:
    LAB.grade_solution_on_cuda()
