"""The check kinds beyond Lab 2's: value programs, modules and initialisation, trajectories,
outcome tasks, nested results, probes and manual answer cells."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from deepgrade.engine.checks.module import InitDistributionCheck
from deepgrade.engine.checks.outcome import OutcomeCheck
from deepgrade.engine.checks.trajectory import first_divergence
from deepgrade.engine.checks.value_program import (
    _expression,
    _problem,
    _random_program,
    _reference,
    _sub_program,
)
from deepgrade.engine.comparison import Tolerance, compare_tree
from deepgrade.engine.grading import grade_submission
from deepgrade.model.results import CheckResult, Status
from deepgrade.sandbox import wire
from deepgrade.sandbox.probes import Probe
from deepgrade.sandbox.worker.drivers import module_probe, optimizer_run, run_loop, run_program
from deepgrade.staff.authoring import ANSWER_PLACEHOLDER, stub_source, to_notebook
from tests.helpers import FAST, ToyCourse, exercise

TOL = Tolerance(rtol=1e-6, atol=1e-6)


# -- value programs -------------------------------------------------------------------------------
def test_random_programs_are_deterministic_and_well_conditioned() -> None:
    first = [_random_program(random.Random(5), 15, ["add", "mul", "log", "div", "pow", "exp"])]
    again = [_random_program(random.Random(5), 15, ["add", "mul", "log", "div", "pow", "exp"])]
    assert first == again
    for seed in range(50):
        program = _random_program(random.Random(seed), 12, sorted(_OPERATORS))
        value, grads = _reference(program)
        assert abs(value) < 1e3
        assert all(abs(g) < 1e9 for g in grads)


_OPERATORS = {"add", "sub", "mul", "div", "pow", "neg", "exp", "log", "tanh", "relu", "sigmoid"}


def test_sub_program_keeps_only_what_a_node_depends_on() -> None:
    program = [["leaf", 1.0], ["leaf", 2.0], ["exp", 0], ["mul", 1, 1], ["add", 2, 0]]
    assert _sub_program(program, 3) == [["leaf", 2.0], ["mul", 0, 0]]
    assert _expression(_sub_program(program, 4)) == (
        "with a = Value(1.0), out = (a.exp() + a); out.backward()"
    )


def test_a_wrong_gradient_of_a_reused_node_is_explained() -> None:
    program = [["leaf", 1.5], ["mul", 0, 0]]
    problem = _problem(program, {"data": 2.25, "grads": [1.5]})
    assert problem is not None
    assert "d/da should be 3" in problem
    assert "used more than once" in problem
    assert _problem(program, {"data": 2.25, "grads": [3.0]}) is None
    assert "raised ZeroDivisionError" in str(_problem(program, {"error": "ZeroDivisionError: x"}))


def test_the_interpreter_runs_torch_scalars_and_numbers_alike() -> None:
    program = [["leaf", 2.0], ["rsub", 0, 1.0], ["pow", 1, 2], ["rdiv", 2, 3.0]]
    nodes = run_program(program, lambda v: torch.tensor(v, dtype=torch.float64))
    assert float(nodes[-1]) == pytest.approx(3.0)


# -- initialisation -------------------------------------------------------------------------------
def _init_check() -> InitDistributionCheck:
    return InitDistributionCheck(name="init", call="Linear", bounds={"weight": 0.05})


def test_uniform_initialisation_passes_for_many_seeds() -> None:
    check = _init_check()
    for seed in range(100):
        sample = (torch.rand(4000, generator=torch.Generator().manual_seed(seed)) * 2 - 1) * 0.05
        assert check._uniform_problem(sample, 0.05) is None


@pytest.mark.parametrize(
    ("sample", "words"),
    [
        (0.05 * torch.randn(20000), "outside"),
        ((torch.rand(20000) * 2 - 1) * 0.01, "do not look uniform"),
        (torch.rand(20000) * 0.05, "do not look uniform"),
        (torch.zeros(20000), "do not look uniform"),
    ],
    ids=["normal", "narrow", "one-sided", "zeros"],
)
def test_wrong_initialisations_are_caught(sample: torch.Tensor, words: str) -> None:
    problem = _init_check()._uniform_problem(sample, 0.05)
    assert problem is not None and words in problem
    assert "std" in problem


# -- outcome tasks --------------------------------------------------------------------------------
def _outcome(metric: str, tiers: list[tuple[float, float]], keys: list[str]) -> OutcomeCheck:
    return OutcomeCheck.model_validate(
        {
            "name": "task",
            "call": "train",
            "task": "lab:task",
            "metric": metric,
            "tiers": tiers,
            "history_keys": keys,
            "history_share": 0.25,
        }
    )


def test_outcome_tiers_and_metrics() -> None:
    accuracy = _outcome("accuracy_argmax", [(0.9, 0.5), (0.95, 1.0)], [])
    assert [accuracy._credit(s) for s in (0.5, 0.9, 0.94, 0.95, 1.0)] == [0, 0.5, 0.5, 1, 1]
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 1.0]])
    assert accuracy._score(logits, torch.tensor([0, 1, 1, 1]))[0] == 0.75
    error = _outcome("mse", [(1e-2, 0.5), (1e-3, 1.0)], [])
    assert [error._credit(s) for s in (0.1, 5e-3, 1e-4)] == [0, 0.5, 1]
    _, problem = error._score(torch.ones(3, 2), torch.ones(4, 2))
    assert problem is not None and "3 rows for 4" in problem
    _, problem = error._score(torch.tensor([[float("nan")]]), torch.ones(1, 1))
    assert problem is not None and "NaN" in problem


def test_outcome_history_must_have_its_keys() -> None:
    check = _outcome("mse", [(1.0, 1.0)], ["loss", "accuracy"])
    series, problem = check._history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.9]})
    assert problem is None and series["accuracy"] == [0.5, 0.9]
    _, problem = check._history({"loss": [1.0]})
    assert problem is not None and "'accuracy'" in problem
    _, problem = check._history({"loss": [], "accuracy": []})
    assert problem is not None and "non-empty" in problem


def test_a_diverged_history_is_well_formed_but_not_kept_as_a_curve() -> None:
    # JSON has no NaN: a kept curve of NaN came back as null between processes and failed the
    # result's validation (a batch or an audit of such a submission crashed).
    check = _outcome("mse", [(1.0, 1.0)], [])
    series, problem = check._history([1.0, float("nan"), float("inf")])
    assert problem is None and series == {}
    result = CheckResult(name="task", status=Status.FAILED, weight=1.0, series=series)
    assert CheckResult.model_validate_json(result.model_dump_json()) == result


# -- trajectories and drivers ---------------------------------------------------------------------
def test_optimizer_harness_is_deterministic_and_divergence_is_located() -> None:
    params = [torch.ones(2, 2), torch.zeros(2)]
    grads = [[torch.full((2, 2), 0.5), torch.ones(2)] for _ in range(3)]
    payload = {"params": params, "grads": grads, "kwargs": {"lr": 0.1, "momentum": 0.9}}
    expected = optimizer_run(torch.optim.SGD, payload)
    assert expected["cleared"] == [True, True]
    names = ["0 (shape [2, 2])", "1 (shape [2])"]
    assert first_divergence(expected["trajectory"], expected["trajectory"], names, TOL) is None
    plain = optimizer_run(torch.optim.SGD, payload | {"kwargs": {"lr": 0.1}})
    where = first_divergence(expected["trajectory"], plain["trajectory"], names, TOL)
    assert where is not None and where.startswith("after step 2 of 3, parameter 0 (shape [2, 2])")


def test_loop_harness_records_steps_and_modes() -> None:
    def one_pass(model: torch.nn.Module, batches: list[Any], loss_fn: Any, optimizer: Any) -> float:
        total = 0.0
        for x, y in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        return total / len(batches)

    state = [torch.ones(3, 2), torch.zeros(3), torch.ones(1, 3), torch.zeros(1)]
    batches = [(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(3)]
    payload = {
        "model": {"sizes": [2, 3, 1], "activation": "relu", "state": state},
        "loss": "mse",
        "optimizer": {"name": "SGD", "lr": 0.1},
        "arguments": ["model", "train", "loss_fn", "optimizer"],
        "data": {"train": batches},
    }
    result = run_loop(one_pass, payload)
    assert len(result["steps"]) == 3
    assert result["modes"] == [[True, True]] * 3
    assert isinstance(result["value"], float)


# -- nested results, probes -----------------------------------------------------------------------
def test_nested_results_are_compared_item_by_item() -> None:
    expected = (torch.ones(2), {"W": torch.zeros(2, 2)}, 3.0)
    assert compare_tree(expected, [torch.ones(2), {"W": torch.zeros(2, 2)}, 3.0], TOL).ok
    verdict = compare_tree(expected, (torch.ones(2), {"W": torch.ones(2, 2)}, 3.0), TOL)
    assert not verdict.ok and "the output[1]['W']" in verdict.message
    verdict = compare_tree(
        expected, (torch.ones(2), {"W": torch.zeros(2, 2)}, torch.tensor(3.0)), TOL
    )
    assert not verdict.ok and ".item()" in verdict.message
    verdict = compare_tree(expected, (torch.ones(2),), TOL)
    assert not verdict.ok and "3 items" in verdict.message


def test_probes_cross_the_wire_by_name() -> None:
    tensors: list[torch.Tensor] = []
    data = wire.encode([Probe("quadratic")], tensors)
    (probe,) = wire.decode(data, tensors)
    assert isinstance(probe, Probe)
    assert float(probe(torch.tensor([1.0, 2.0]))) == pytest.approx(4.5)
    with pytest.raises(wire.WireError):
        wire.decode({"__probe__": "os.system"}, [])


# -- manual answers -------------------------------------------------------------------------------
def test_manual_answer_cells_become_nbgrader_manual_cells() -> None:
    source = textwrap.dedent(
        """\
        # %% [markdown]
        # Question (4 points)

        # %% [markdown] tags=["manual:lab7.q"]
        # The model answer.

        # %%
        x = 1
        """
    )
    stub = stub_source(source, "Lab 7")
    assert "The model answer" not in stub and ANSWER_PLACEHOLDER in stub
    assert "x = 1" in stub
    notebook = to_notebook(stub, "lab7", {"lab7.q": 4.0})
    assert '"points": 4.0' in notebook and '"grade": true' in notebook


def test_module_probe_warms_up_then_probes_in_the_mode_asked_and_reports_buffers() -> None:
    # Batch normalisation (Lab 8): running statistics learnt from training batches, then used
    # in evaluation mode; only the buffers asked for come back, and only those that exist.
    generator = torch.Generator().manual_seed(0)
    x, *warmup = (torch.randn(4, 2, 3, 3, generator=generator) for _ in range(3))
    payload = {"init_args": [2], "input": x, "warmup": warmup, "mode": "eval"}
    report = module_probe(torch.nn.BatchNorm2d, payload | {"buffers": ["running_var", "nope"]})
    reference = torch.nn.BatchNorm2d(2)
    for batch in warmup:
        reference(batch)
    reference.eval()
    assert torch.equal(report["output"], reference(x))
    assert list(report["buffers"]) == ["running_var"]
    assert torch.equal(report["buffers"]["running_var"], reference.running_var)
    assert "buffers" not in module_probe(torch.nn.BatchNorm2d, payload)


# -- the drivers across the process boundary ------------------------------------------------------
LAB = """
id = "toy"
title = "Toy"
notebook = "toy.ipynb"
module = "toy.py"

[[exercises]]
id = "toy.Affine"
points = 2.0
requires = ["Affine"]

[[exercises.checks]]
kind = "module"
name = "same as nn.Linear"
call = "Affine"
init_args = [3, 2]
reference = "torch.nn.Linear"
input = { shape = [4, 3] }
parameter_names = ["weight", "bias"]

[[exercises.checks]]
kind = "init_distribution"
name = "init"
call = "Affine"
init_args = [400, 100]
bounds = { weight = 0.05, bias = 0.05 }

[[exercises]]
id = "toy.Plain"
points = 1.0
requires = ["Plain"]

[[exercises.checks]]
kind = "optimizer_trajectory"
name = "like torch.optim.SGD"
call = "Plain"
reference = "torch.optim.SGD"
kwargs = { lr = 0.1 }
skip_grad = true
"""

SUBMISSION = """
import math
import torch
from torch import nn


class Affine(nn.Module):
    def __init__(self, fan_in, fan_out):
        super().__init__()
        k = 1 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(fan_out, fan_in).uniform_(-k, k))
        self.bias = nn.Parameter(torch.empty(fan_out).uniform_(-k, k))

    def forward(self, x):
        return x @ self.weight.T + self.bias


class Plain:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def step(self):
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p -= self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None
"""


@pytest.fixture
def toy(toy_lab: ToyCourse) -> Path:
    toy_lab.lab(LAB)
    return toy_lab.root


@pytest.mark.parametrize(
    ("change", "scores", "words"),
    [
        ("", {"toy.Affine": 2.0, "toy.Plain": 1.0}, ""),
        (
            ("(fan_out, fan_in).uniform_(-k, k)", "(fan_out, fan_in).normal_(0, k)"),
            {"toy.Affine": 1.0, "toy.Plain": 1.0},
            "weight at initialisation",
        ),
        (
            ("return x @ self.weight.T + self.bias", "return x @ self.weight.T"),
            {"toy.Affine": 1.0, "toy.Plain": 1.0},
            "same parameter values as the reference",
        ),
        (
            ("p -= self.lr * p.grad", "p -= 2 * self.lr * p.grad"),
            {"toy.Affine": 2.0, "toy.Plain": 0.0},
            "after step 1 of 8, parameter 0 (shape [4, 3])",
        ),
    ],
    ids=["correct", "normal-init", "no-bias", "double-step"],
)
def test_drivers_grade_classes_in_the_worker(
    toy: Path, change: tuple[str, str] | str, scores: dict[str, float], words: str
) -> None:
    source = SUBMISSION.replace(*change) if change else SUBMISSION
    path = toy / "toy.py"
    path.write_text(source, encoding="utf-8")
    result = grade_submission(path, lab="toy", settings=FAST, device="cpu")
    assert {e.id: e.score for e in result.exercises} == scores
    failing = [e for e in result.exercises if e.score < e.max_score]
    if words:
        assert words in failing[0].message
    else:
        assert exercise(result, "toy.Affine").message == "all checks passed"


def test_generators_cross_the_wire_with_their_state() -> None:
    generator = torch.Generator().manual_seed(3)
    torch.randperm(5, generator=generator)
    tensors: list[torch.Tensor] = []
    copy = wire.decode(wire.encode(generator, tensors), tensors)
    assert isinstance(copy, torch.Generator)
    assert torch.equal(torch.randperm(9, generator=copy), torch.randperm(9, generator=generator))


# -- a module whose forward takes several tensors -------------------------------------------------
PAIR_LAB = """
id = "toy"
title = "Toy"
notebook = "toy.ipynb"
module = "toy.py"

[[exercises]]
id = "toy.Pair"
points = 1.0
requires = ["Pair"]

[[exercises.checks]]
kind = "module"
name = "same as nn.Bilinear, with a mask"
call = "Pair"
init_args = [3, 2, 4]
reference = "lab:masked_bilinear"
inputs = "lab:pair_inputs"
parameter_names = ["weight", "bias"]
seed = 3
"""

PAIR_REFERENCES = """
import torch
from torch import nn


class MaskedBilinear(nn.Bilinear):
    def forward(self, a, b, *, keep):
        return super().forward(a, b) * keep


def masked_bilinear(*args):
    return MaskedBilinear(*args)


def pair_inputs(generator, dtype):
    a = torch.randn(5, 3, generator=generator, dtype=torch.float64).to(dtype)
    b = torch.randn(5, 2, generator=generator, dtype=torch.float64).to(dtype)
    keep = torch.rand(5, 1, generator=generator) > 0.3
    return [a, b], {"keep": keep}
"""

PAIR = """
import torch
from torch import nn


class Pair(nn.Module):
    def __init__(self, n1, n2, out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out, n1, n2))
        self.bias = nn.Parameter(torch.randn(out))

    def forward(self, a, b, *, keep):
        return (torch.einsum("ni,oij,nj->no", a, self.weight, b) + self.bias) * keep
"""


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("", ""),
        (("* keep", "* keep.logical_not()"), "same parameter values as the reference"),
        (('nj->no", a,', 'nj->no", a.detach(),'), "the gradient of argument 1"),
    ],
    ids=["correct", "mask-ignored", "first-argument-detached"],
)
def test_module_checks_call_a_forward_of_several_arguments(
    toy_lab: ToyCourse, change: tuple[str, str] | str, words: str
) -> None:
    toy_lab.lab(PAIR_LAB, references=PAIR_REFERENCES)
    result = toy_lab.grade(PAIR.replace(*change) if change else PAIR, lab="toy")
    pair = exercise(result, "toy.Pair")
    if words:
        assert pair.score == 0.0 and words in pair.message, pair.message
    else:
        assert pair.score == 1.0, pair.message


# -- a tuple of tensors among the arguments, a tuple of outputs (an LSTM cell's state) -----------
STATE_LAB = """
id = "toy"
title = "Toy"
notebook = "toy.ipynb"
module = "toy.py"

[[exercises]]
id = "toy.Cell"
points = 1.0
requires = ["Cell"]

[[exercises.checks]]
kind = "module"
name = "same as nn.LSTMCell(3, 4) on x and (h, c)"
call = "Cell"
init_args = [3, 4]
reference = "torch.nn.LSTMCell"
inputs = "lab:cell_inputs"
seed = 4
"""

STATE_REFERENCES = """
import torch


def cell_inputs(generator, dtype):
    x, h, c = (
        torch.randn(2, n, generator=generator, dtype=torch.float64).to(dtype) for n in (3, 4, 4)
    )
    return [x, (h, c)], {}
"""

CELL = """
import torch
from torch import nn


class Cell(nn.LSTMCell):
    def forward(self, x, state):
        h, c = state
        return super().forward(x, (h, c))
"""


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("", ""),
        (("(h, c))", "(h, c.detach()))"), "the gradient of item 2 of argument 2"),
        (("return super().forward(x, (h, c))", "return super().forward(x, (h, c))[0]"), "output"),
    ],
    ids=["correct", "c-detached", "h-only"],
)
def test_module_checks_differentiate_a_tuple_argument_and_tuple_outputs(
    toy_lab: ToyCourse, change: tuple[str, str] | str, words: str
) -> None:
    toy_lab.lab(STATE_LAB, references=STATE_REFERENCES)
    result = toy_lab.grade(CELL.replace(*change) if change else CELL, lab="toy")
    cell = exercise(result, "toy.Cell")
    if words:
        assert cell.score == 0.0 and words in cell.message, cell.message
    else:
        assert cell.score == 1.0, cell.message


# -- gradients through a tuple of results ---------------------------------------------------------
TUPLE_LAB = """
id = "toy"
title = "Toy"
notebook = "toy.ipynb"
module = "toy.py"

[[exercises]]
id = "toy.pair"
points = 1.0
requires = ["pair"]

[[exercises.checks]]
kind = "reference"
name = "both results differentiated"
call = "pair"
reference = "lab:pair"
args = [{ shape = [3, 4] }]
backward = true
seed = 5
"""

TUPLE_REFERENCES = """
def pair(x):
    return 2 * x, x.sin().sum(dim=0)
"""


@pytest.mark.parametrize(
    ("result", "words"),
    [
        ("2 * x, x.sin().sum(dim=0)", ""),
        ("2 * x, x.sin().detach().sum(dim=0) + 0 * x.sum()", "the gradient of argument 1"),
        ("2 * x", "no gradient can flow back"),
    ],
    ids=["correct", "second-result-detached", "one-result"],
)
def test_backward_goes_through_every_result_of_a_tuple(
    toy_lab: ToyCourse, result: str, words: str
) -> None:
    toy_lab.lab(TUPLE_LAB, references=TUPLE_REFERENCES)
    graded = exercise(toy_lab.grade(f"def pair(x):\n    return {result}\n", lab="toy"), "toy.pair")
    if words:
        assert graded.score == 0.0 and words in graded.message, graded.message
    else:
        assert graded.score == 1.0, graded.message
