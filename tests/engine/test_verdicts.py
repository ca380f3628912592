"""Verdicts (issue 17): non-finite values, symbolic branches, exact "untouched", a backward's
wrong gradient, tolerances at scale, hints, value engines, and checks that grade only what
they name. The attacks of this topic are in tests/adversarial/cases_verdicts.toml."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import sympy
import torch

from deepgrade.engine.checks.judge import _nonfinite_problem
from deepgrade.engine.checks.value_program import (
    ValueProgramCheck,
    _by_size,
    _chain,
    _problem,
    _sample,
)
from deepgrade.engine.comparison import (
    EXACT,
    Tolerance,
    compare,
    compare_tree,
    compare_values,
    has_nonfinite,
    magnitude,
)
from deepgrade.engine.gradients import explain_gradient_mismatch
from deepgrade.engine.grading import grade_submission
from deepgrade.engine.symbolic import equivalent, probe_points
from deepgrade.sandbox.worker import drivers as _drivers
from tests.helpers import FAST, ROOT, exercise, patched

X = sympy.Symbol("x", real=True)
SIGMOID = 1 / (1 + sympy.exp(-X))
D_SIGMOID = sympy.diff(SIGMOID, X)
TOL = Tolerance(rtol=1e-6, atol=1e-6)


# -- symbolic answers ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (sympy.nan, "undefined (nan)"),
        (D_SIGMOID + sympy.zoo, "undefined"),
        (sympy.Piecewise((D_SIGMOID, X < 2.5)), "undefined (nan)"),
        (sympy.Piecewise((D_SIGMOID, X < 1000), (0, True)), "at x = 1000"),
        (sympy.Piecewise((D_SIGMOID, sympy.Abs(X) < 50), (0, True)), "x = 50"),
        (sympy.Piecewise((D_SIGMOID, sympy.exp(X) < 10**6), (1, True)), "x = 13.8"),
        (D_SIGMOID * sympy.Heaviside(X + 7), "x = -7.00"),
        (D_SIGMOID + sympy.Max(0, X - 20), "x = 20.00"),
        (sympy.sqrt(X - 10) + D_SIGMOID, "undefined"),
    ],
)
def test_symbolic_answers_fail_off_the_random_points(answer: Any, words: str) -> None:
    ok, reason = equivalent(answer, D_SIGMOID, [X], {})
    assert not ok
    assert words in reason


@pytest.mark.parametrize(
    "answer",
    [
        SIGMOID * (1 - SIGMOID),
        sympy.exp(-X) / (1 + sympy.exp(-X)) ** 2,
        sympy.Piecewise((D_SIGMOID, X < 0), (D_SIGMOID, True)),
        sympy.Float("0.25") * sympy.sech(X / 2) ** 2,
    ],
)
def test_right_symbolic_answers_pass_in_any_form(answer: Any) -> None:
    assert equivalent(answer, D_SIGMOID, [X], {})[0]


def test_a_declared_domain_bounds_the_boundaries() -> None:
    """ELU's x < 0 branch: the full ELU derivative is right on the question's domain."""
    alpha = sympy.Symbol("alpha", real=True)
    expected = alpha * sympy.exp(X)
    domain = {"x": (-5.0, -0.01), "alpha": (0.1, 3.0)}
    full = sympy.Piecewise((alpha * sympy.exp(X), X < 0), (1, True))
    assert equivalent(full, expected, [X, alpha], domain)[0]
    early = sympy.Piecewise((alpha * sympy.exp(X), X < -4.5), (1, True))
    assert not equivalent(early, expected, [X, alpha], domain)[0]


def test_test_points_straddle_every_boundary_of_both_expressions() -> None:
    answer = sympy.Piecewise((X, X < 7), (0, True))
    reference = sympy.Heaviside(X + 9)
    values = sorted(p[X] for p in probe_points([answer, reference], [X], {}, points=4))
    for boundary in (7.0, -9.0):
        assert any(boundary - 0.01 < v < boundary for v in values)
        assert any(boundary < v < boundary + 0.01 for v in values)


def test_a_tiny_derivative_is_not_zero() -> None:
    """Relative comparison in sympy's floats: 5e-435 is not 0, as Python's floats would say."""
    ok, reason = equivalent(sympy.Piecewise((D_SIGMOID, X < 999), (0, True)), D_SIGMOID, [X], {})
    assert not ok
    assert "e-43" in reason


# -- non-finite values --------------------------------------------------------------------------
def test_nan_matches_only_where_the_reference_has_nan() -> None:
    expected = torch.tensor([1.0, math.nan, math.inf])
    assert compare_values(expected, expected.clone(), TOL).ok
    assert not compare_values(expected, torch.tensor([math.nan, math.nan, math.inf]), TOL).ok
    assert not compare_values(expected, torch.tensor([1.0, 2.0, math.inf]), TOL).ok


def test_derived_comparisons_match_no_nonfinite_value() -> None:
    """A property's both sides come from the student: NaN = NaN proves nothing there."""
    nan = torch.full((3,), math.nan)
    assert compare(nan, nan.clone(), TOL).ok
    derived = compare(nan, nan.clone(), TOL, derived=True)
    assert not derived.ok
    assert "no property holds for NaN or infinity" in derived.message
    inf = torch.full((3,), math.inf)
    assert not compare(inf, inf.clone(), TOL, derived=True).ok
    assert compare(torch.ones(3), torch.ones(3), TOL, derived=True).ok


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (1.0, False),
        (math.nan, True),
        ([1.0, (2, {"a": -math.inf})], True),
        ({"w": torch.ones(2), "b": torch.tensor([0.0, math.nan])}, True),
        (torch.tensor([1, 2]), False),
        ("nan", False),
    ],
)
def test_has_nonfinite(value: Any, found: bool) -> None:
    assert has_nonfinite(value) is found


@pytest.mark.parametrize(
    ("result", "extra", "fails"),
    [
        (math.nan, {"expected": 1.0}, True),
        ((1.0, math.inf), {"expected": (1.0, 2.0)}, True),
        (math.nan, {"expected": math.nan}, False),  # the answer itself is NaN there
        (math.nan, {}, False),  # no answer to say what is finite: the judge decides
        (1.5, {"expected": 1.0}, False),  # a finite wrong value is the judge's to word
    ],
)
def test_a_judged_result_with_nan_where_the_answer_is_finite_fails(
    result: Any, extra: dict[str, Any], fails: bool
) -> None:
    assert (_nonfinite_problem(result, extra) is not None) is fails


# -- untouched, bit for bit ---------------------------------------------------------------------
def test_untouched_is_bit_for_bit() -> None:
    x = torch.randn(3, 4, dtype=torch.float64)
    nudged = x.clone()
    nudged[1, 2] = torch.nextafter(nudged[1, 2], torch.tensor(math.inf, dtype=torch.float64))
    assert compare_tree([x], [x.clone()], EXACT).ok
    verdict = compare_tree([x], [nudged], EXACT, what="argument")
    assert not verdict.ok
    assert "argument[0] differs at 1 of 12 elements" in verdict.message
    # No "1 times the expected ones" for a last-bit change: that is no factor.
    assert "times the expected" not in verdict.message
    with_nan = torch.tensor([1.0, math.nan])
    assert compare_tree([with_nan], [with_nan.clone()], EXACT).ok
    assert not compare_tree([with_nan], [torch.tensor([math.nan, 1.0])], EXACT).ok


# -- hints --------------------------------------------------------------------------------------
def test_the_factor_hint_needs_one_factor_for_every_element() -> None:
    expected = torch.arange(1.0, 21.0)
    scaled = 3 * expected
    assert "3 times the expected ones" in compare(expected, scaled, TOL).message
    partly = expected.clone()
    partly[:2] *= 3  # two wrong elements of twenty: no factor explains the result
    assert "times the expected" not in compare(expected, partly, TOL).message
    scalar = compare(torch.tensor(2.0), torch.tensor(10.0), TOL)
    assert "5 times the expected ones" in scalar.message


# -- tolerances at scale ------------------------------------------------------------------------
def test_tolerance_grows_with_the_inputs_magnitude_in_float32_only() -> None:
    base = Tolerance(rtol=1.3e-6, atol=1e-5)
    assert base.at_scale(1.0, torch.float32) == base
    at_1e4 = base.at_scale(1e4, torch.float32)
    assert 4e-3 < at_1e4.atol < 5e-3
    assert base.at_scale(1e4, torch.float64) == base
    assert base.at_scale(1e4, torch.int64) == base
    assert magnitude([torch.tensor([1.0, -1e4, math.inf]), torch.tensor([7]), {"k": 3.0}]) == 1e4


# -- a backward's wrong gradient ----------------------------------------------------------------
def test_a_gradient_mismatch_reads_as_a_forward_mismatch() -> None:
    report = {
        "function": "Sigmoid.backward",
        "input": 1,
        "got": [[5], "torch.float32", "cpu"],
        "expected": [[4, 5], "torch.float32", "cpu"],
    }
    message = explain_gradient_mismatch(json.dumps(report))
    assert message == (
        "the gradient Sigmoid.backward returned for its input 1 has shape [5], expected [4, 5] "
        "(a reduction too many, or keepdim missing?)."
    )
    report["got"] = [[4, 5], "torch.float64", "cpu"]
    assert "has dtype float64, expected float32" in explain_gradient_mismatch(json.dumps(report))
    report["got"] = [[4, 5], "torch.float32", "cuda:0"]
    assert "is on cuda:0, but cpu was expected" in explain_gradient_mismatch(json.dumps(report))


class _MeanSquare(torch.autograd.Function):
    """A reduction with a number argument: its output's shape is not its input's."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float, target: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.scale = scale
        return scale * (x * x).mean()

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        grad = grad_output * ctx.scale * 2 * x / x.numel()
        # A float gradient for the integer target would be dropped by autograd: never checked.
        return (grad.sum(0) if ctx.scale < 0 else grad), None, torch.zeros(1)


def test_the_worker_holds_a_backward_to_its_forwards_inputs() -> None:
    from deepgrade.sandbox.worker import main as _worker
    from deepgrade.sandbox.worker.detector import watching
    from deepgrade.sandbox.worker.equivalents import expand

    _worker._check_backward(_MeanSquare)
    x = torch.randn(4, 5, requires_grad=True)
    target = torch.tensor([1, 2])
    # Gradients are held to their inputs during graded calls, which the detector watches.
    with watching(expand([]), {}):
        _MeanSquare.apply(x, 3.0, target).backward()
        assert x.grad is not None and x.grad.shape == (4, 5)
        with pytest.raises(_worker.GradientMismatch) as wrong:
            _MeanSquare.apply(x, -3.0, target).backward()
    report = json.loads(str(wrong.value))
    assert report["function"] == "_MeanSquare.backward"
    assert report["got"][0] == [5] and report["expected"][0] == [4, 5]


@pytest.mark.parametrize("report", ["", "[]", "{}", '{"function": 1, "input": "x"}', "x" * 3000])
def test_a_malformed_gradient_report_still_reads(report: str) -> None:
    assert "does not fit its input" in explain_gradient_mismatch(report)


# -- scalar autograd engines --------------------------------------------------------------------
class _Chained:
    """A float64 scalar engine with a recursive topological sort (as micrograd's)."""

    def __init__(self, data: float, parents: tuple[tuple[_Chained, float], ...] = ()) -> None:
        self.data, self.grad, self.parents = float(data), 0.0, parents

    def __mul__(self, other: Any) -> _Chained:
        other = other if isinstance(other, _Chained) else _Chained(other)
        return _Chained(self.data * other.data, ((self, other.data), (other, self.data)))

    def __sub__(self, other: Any) -> _Chained:
        return _Chained(self.data - float(other), ((self, 1.0),))

    def backward(self) -> None:
        order: list[_Chained] = []
        seen: set[int] = set()

        def visit(node: _Chained) -> None:
            if id(node) not in seen:
                seen.add(id(node))
                for parent, _ in node.parents:
                    visit(parent)
                order.append(node)

        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            for parent, local in node.parents:
                parent.grad += node.grad * local


def test_a_recursive_engine_handles_a_chain_of_thousands_of_nodes() -> None:
    program = _chain(3000)
    limit = sys.getrecursionlimit()
    (result,) = _drivers.value_graph(_Chained, {"programs": [program]})
    assert sys.getrecursionlimit() == limit
    assert _problem(program, result) is None


# Code that does not run as written gets no derivative hint; an overflow (an arithmetic
# mistake) and a wrong derivative do.
@pytest.mark.parametrize(
    ("error", "hinted"),
    [("NameError", False), ("TypeError", False), ("OverflowError", True), (None, True)],
)
def test_no_derivative_hint_when_the_code_raised(error: str | None, hinted: bool) -> None:
    class Context:
        device = torch.device("cpu")

        def drive(self, driver: str, target: str, payload: dict[str, Any]) -> Any:
            if error is None:
                return [{"data": math.tanh(0.4), "grads": [0.0]} for _ in payload["programs"]]
            return [{"error": f"{error}: boom"} for _ in payload["programs"]]

    check = ValueProgramCheck(
        name="tanh", hint="tanh'(a) = 1 - t ** 2", programs=[[["leaf", 0.4], ["tanh", 0]]]
    )
    outcome = check.run(Context())  # type: ignore[arg-type]
    assert not outcome.passed
    assert error is None or f"raised {error}: boom" in outcome.message
    assert ("Hint: tanh'" in outcome.message) is hinted


def test_a_failing_long_chain_is_minimised_in_bounded_work() -> None:
    program = _chain(3000)
    order = _by_size(program)
    assert order[:2] == [0, 1]  # the leaves first
    assert order[-1] == len(program) - 1
    sampled = _sample(order)
    assert len(sampled) == 48
    assert sampled[-1] == len(program) - 1
    check = ValueProgramCheck(name="chain", chain=3000)
    assert "an expression of 3000 operations" in check._describe(program)


# -- a check grades only what it names ----------------------------------------------------------
def test_replayed_substitutes_leave_the_namespace_as_it_was() -> None:
    namespace: dict[str, Any] = {"helper": "mine"}
    exec("def once(model):\n    return helper(model)", namespace)
    exec("def twice(model):\n    return helper(model) + helper(model)", namespace)
    state = [torch.ones(1, 2), torch.ones(1)]
    record = {"value": 0.5, "state": [torch.zeros(1, 2), torch.zeros(1)], "steps": []}
    payload = {
        "model": {"sizes": [2, 1], "activation": "relu", "state": state},
        "loss": "mse",
        "optimizer": {"name": "SGD", "lr": 0.1},
        "arguments": ["model"],
        "replay": {"helper": [record]},
    }
    result = _drivers.run_loop(namespace["once"], payload)
    assert result["value"] == 0.5
    assert [float(p.sum()) for p in result["final"]] == [0.0, 0.0]
    assert namespace["helper"] == "mine"
    with pytest.raises(RuntimeError, match="helper was called more than the 1 times foreseen"):
        _drivers.run_loop(namespace["twice"], payload)
    assert namespace["helper"] == "mine"


LAB6_SOLUTION = ROOT / "solutions" / "lab6_training" / "lab6_training.py"
EPOCH_STEP = """        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()"""


@pytest.mark.slow
def test_fit_is_not_charged_for_train_epoch_and_evaluate(tmp_path: Path) -> None:
    """A right fit on a train_epoch without zero_grad and an evaluate that triples: fit keeps
    its 3 points (hidden check included), the other two lose theirs."""
    source = patched(
        LAB6_SOLUTION.read_text(encoding="utf-8"),
        [
            (EPOCH_STEP, EPOCH_STEP.replace("        optimizer.zero_grad()\n", "")),
            (
                "            total += loss_fn(model(xb), yb).item()\n",
                "            total += 3 * loss_fn(model(xb), yb).item()\n",
            ),
        ],
    )
    path = tmp_path / "lab6_training.py"
    path.write_text(source, encoding="utf-8")
    result = grade_submission(
        path,
        settings=FAST.model_copy(update={"include_hidden": True}),
        lab="lab6",
        exercises=["lab6.fit", "lab6.train_epoch", "lab6.evaluate"],
        device="cpu",
    )
    assert exercise(result, "lab6.fit").score == 3.0
    assert exercise(result, "lab6.train_epoch").status.value == "failed"
    assert exercise(result, "lab6.evaluate").status.value == "failed"


def test_a_modified_input_is_the_cause_not_a_constant_factor(tmp_path: Path) -> None:
    # Updates the caller's parameters, then returns twice them: a factor of 2 that the
    # modified input, not the arithmetic, explains in the check that requires it untouched.
    source = patched(
        (ROOT / "solutions" / "lab1_linear" / "lab1_linear.py").read_text(encoding="utf-8"),
        [
            (
                "    return [p - lr * g for p, g in zip(params, grads, strict=True)]",
                "    for p, g in zip(params, grads, strict=True):\n"
                "        p.sub_(lr * g)\n"
                "    return [2 * p for p in params]",
            )
        ],
    )
    path = tmp_path / "lab1_linear.py"
    path.write_text(source, encoding="utf-8")
    result = grade_submission(path, exercises=["lab1.gd_step"], settings=FAST, device="cpu")
    untouched = next(c for c in exercise(result, "lab1.gd_step").checks if "untouched" in c.name)
    assert "modified its arguments in place" in untouched.message
    assert "constant factor" not in untouched.message
    assert "Hint: p - lr * g builds a new tensor" in untouched.message
