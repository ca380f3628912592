"""Fuzzing the rebuild of a student's sympy answer: any expression data ends as a refusal on the
wire, a refused expression, or a verdict; never an exception of the grader (issue 17)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from deepgrade.engine.checks.symbolic import _verdict
from deepgrade.engine.symbolic import ExpressionError, _functions, rebuild
from deepgrade.sandbox import wire
from deepgrade.sandbox.confined import Budget, OverBudget, run_confined

X = sympy.Symbol("x", real=True)
TABLE = {"x": X}
EXPECTED = sympy.diff(1 / (1 + sympy.exp(-X)), X)

names = st.sampled_from(sorted(_functions())) | st.sampled_from(["Symbol", "eval", ""])
numbers = st.integers(-(10**30), 10**30).map(str)
leaves = (
    st.builds(dict, symbol=st.sampled_from(["x", "y", "x" * 200, ""]))
    | st.builds(dict, integer=numbers | st.sampled_from(["1e3", "", "0x10", "9" * 150]))
    | st.builds(dict, rational=st.lists(numbers | st.just("0"), min_size=1, max_size=3))
    | st.builds(dict, float=st.sampled_from(["1.5", "nan", "inf", "-1e300", "1e999", "x"]))
    | st.just({})
    | st.integers()
)
trees = st.recursive(
    leaves,
    lambda inner: (
        st.builds(dict, func=names, args=st.lists(inner, max_size=3))
        | st.dictionaries(st.sampled_from(["func", "args", "symbol"]), inner, max_size=2)
    ),
    max_leaves=10,
)


def _judged(tree: Any) -> dict[str, Any] | None:
    """What the grader makes of ``tree``: None when the wire refuses it, else the verdict."""
    try:
        value = wire.decode({"__sympy__": tree}, [])
    except wire.WireError:
        return None
    assert isinstance(value, wire.SympyTree)
    return _verdict(value.tree, TABLE, EXPECTED, {})


@given(trees)
def test_any_expression_data_is_refused_or_judged(tree: Any) -> None:
    verdict = _judged(tree)
    if verdict is not None:
        assert isinstance(verdict["ok"], bool)
        assert isinstance(verdict["refused"], str)


@given(trees)
def test_rebuild_raises_only_expression_errors(tree: Any) -> None:
    with contextlib.suppress(ExpressionError):
        rebuild(tree, TABLE)


@pytest.mark.parametrize(
    "tree",
    [
        {"func": "BooleanFalse", "args": []},  # found by the fuzzer: a truth value is no answer
        {"func": "StrictLessThan", "args": [{"symbol": "x"}, {"integer": "1"}]},
        {"func": "ExprCondPair", "args": [{"symbol": "x"}, {"func": "BooleanTrue", "args": []}]},
    ],
)
def test_what_is_not_a_number_valued_expression_is_refused(tree: Any) -> None:
    verdict = _judged(tree)
    assert verdict == {"refused": verdict["refused"], "ok": False}
    assert "not an expression" in verdict["refused"]


def test_deep_and_wide_expressions_are_refused() -> None:
    deep: Any = {"symbol": "x"}
    for _ in range(200):
        deep = {"func": "exp", "args": [deep]}
    wide = {"func": "Add", "args": [{"symbol": "x"}] * 6000}
    assert _judged(deep) is None
    assert _judged(wide) is None


def test_the_right_answer_is_judged_right_in_a_confined_child() -> None:
    tree = wire.decode(wire.encode(sympy.exp(-X) / (1 + sympy.exp(-X)) ** 2, []), []).tree
    verdict = run_confined(_verdict, tree, TABLE, EXPECTED, {}, budget=Budget(cpu_seconds=20))
    assert verdict["ok"] is True


def test_an_answer_that_explodes_costs_its_budget_only() -> None:
    answer = (X + 1) ** 999 * (X + 3) ** 999 / (X + 2) ** 999
    tree = wire.decode(wire.encode(answer, []), []).tree
    try:
        run_confined(_verdict, tree, TABLE, EXPECTED, {}, budget=Budget(cpu_seconds=1))
    except OverBudget as over:
        assert "more than 1 s of CPU time" in str(over)
    else:
        raise AssertionError("a simplification of hours finished within a second")
