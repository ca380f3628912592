"""An exercise's function drawn against its reference when a public check fails: the values
(and derivatives) over the grader's own range come back with the result, and nothing about
drawing can change a grade."""

from __future__ import annotations

import pytest

from deepgrade.engine.sweeps import plot_inputs
from deepgrade.model.results import LabResult, Sweep
from deepgrade.model.spec import PlotSpec
from tests.helpers import ToyCourse, exercise, scores, statuses

LAB = """
id = "toy"
title = "Toy"
module = "toy.py"
notebook = "toy.ipynb"
{exercises}
"""

EXERCISE = """
[[exercises]]
id = "toy.{name}"
points = 1.0
requires = ["{name}"]
plot = {{ call = "{name}", reference = "{reference}", range = [-2.0, 2.0], {plot_kwargs}{extra} }}

[[exercises.checks]]
kind = "reference"
name = "values"
call = "{name}"
reference = "torch.nn.functional.leaky_relu"
args = [{{ gen = "randn", shape = [5] }}]
kwargs = {{ negative_slope = 0.1 }}
seed = 1
"""

NAMES = ["right", "slope", "no_backward", "wrong_shape", "raises", "no_gradient"]

SUBMISSION = """
import torch

def right(x, negative_slope=0.01):
    return torch.where(x >= 0, x, negative_slope * x)

def slope(x, negative_slope=0.01):
    return torch.where(x >= 0, x, 0.01 * x)  # the slope is hard-coded

class _Broken(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.where(x >= 0, x, 0.01 * x)

    @staticmethod
    def backward(ctx, grad_output):
        raise RuntimeError("backward is not written yet")

def no_backward(x, negative_slope=0.01):
    return _Broken.apply(x)

def wrong_shape(x, negative_slope=0.01):
    return torch.zeros(len(x) + 1) if len(x) > 100 else x * 0

def raises(x, negative_slope=0.01):
    if len(x) > 100:
        raise ValueError("only small batches")
    return x * 0

def no_gradient(x, negative_slope=0.01):
    return torch.where(x >= 0, x, 0.01 * x)
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> LabResult:
    course = ToyCourse(tmp_path_factory.mktemp("sweeps"))
    exercises = "".join(
        EXERCISE.format(
            name=name,
            reference="torch.nn.functional.leaky_relu",
            plot_kwargs="kwargs = { negative_slope = 0.1 }",
            extra=", gradient = false" if name == "no_gradient" else "",
        )
        for name in NAMES
    )
    course.lab(LAB.format(exercises=exercises))
    return course.grade(SUBMISSION)


def _sweep(result: LabResult, name: str) -> Sweep | None:
    return exercise(result, f"toy.{name}").sweep


def test_drawing_never_changes_a_grade(graded: LabResult) -> None:
    assert scores(graded) == {f"toy.{name}": 1.0 if name == "right" else 0.0 for name in NAMES}
    assert statuses(graded)["toy.right"] == "passed"
    assert {statuses(graded)[f"toy.{name}"] for name in NAMES[1:]} == {"failed"}


def test_a_wrong_function_is_drawn_with_its_derivative(graded: LabResult) -> None:
    drawn = _sweep(graded, "slope")
    assert drawn is not None
    assert len(drawn.inputs) == 201 and drawn.inputs[100] == 0.0
    assert drawn.inputs[0] == -2.0 and drawn.inputs[-1] == 2.0
    assert drawn.got[0] == pytest.approx(-0.02) and drawn.expected[0] == pytest.approx(-0.2)
    assert drawn.expected_gradient[0] == pytest.approx(0.1)
    assert drawn.got_gradient[0] == pytest.approx(0.01)
    wrong = drawn.differs(drawn.expected, drawn.got)
    # Wrong exactly where the slope matters: every negative input, none from 0 on.
    assert wrong == [x < 0 for x in drawn.inputs]


def test_a_passing_exercise_is_not_drawn(graded: LabResult) -> None:
    assert _sweep(graded, "right") is None


def test_a_backward_that_fails_leaves_the_values(graded: LabResult) -> None:
    drawn = _sweep(graded, "no_backward")
    assert drawn is not None and drawn.got and not drawn.got_gradient


def test_a_plot_without_gradients(graded: LabResult) -> None:
    drawn = _sweep(graded, "no_gradient")
    assert drawn is not None and not drawn.expected_gradient


@pytest.mark.parametrize("name", ["wrong_shape", "raises"])
def test_nothing_to_draw_is_no_figure(graded: LabResult, name: str) -> None:
    assert _sweep(graded, name) is None


@pytest.mark.parametrize(
    "change", [{"range": (1.0, -1.0)}, {"range": (0.0, float("inf"))}, {"points": 5}]
)
def test_plot_declarations_are_checked(change: dict[str, object]) -> None:
    declared = {"call": "f", "reference": "torch.relu", "range": (-1.0, 1.0)} | change
    with pytest.raises(ValueError):
        PlotSpec.model_validate(declared)


def test_differs_is_the_check_tolerance() -> None:
    drawn = Sweep(
        call="f",
        inputs=[0.0, 1.0, 2.0, 3.0],
        expected=[1.0, 1.0, float("nan"), float("inf")],
        got=[1.0 + 1e-9, 1.1, float("nan"), float("inf")],
        rtol=1e-7,
        atol=1e-7,
    )
    assert drawn.differs(drawn.expected, drawn.got) == [False, True, False, False]


def test_the_inputs_are_the_graders_own() -> None:
    # No hidden input can reach a figure: the grid depends on the declaration alone.
    plot = PlotSpec(call="f", reference="torch.relu", range=(-1.0, 3.0), points=11)
    assert plot_inputs(plot).tolist() == pytest.approx([-1.0 + 0.4 * k for k in range(11)])
