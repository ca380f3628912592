"""Derivatives the grader trusts: sympy derivations evaluated numerically, and gradcheck."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from deepgrade.engine.comparison import device_mismatch, layout_mismatch

Evaluator = Callable[..., torch.Tensor]


@lru_cache(maxsize=256)
def _derivative(formula: str, variable: str, params: tuple[str, ...]) -> tuple[Any, Any]:
    import sympy

    symbols = sympy.symbols([variable, *params], real=True)
    local = {str(symbol): symbol for symbol in symbols}
    expression = sympy.parse_expr(formula, local_dict=local)
    derivative = sympy.diff(expression, symbols[0])
    return sympy.lambdify(symbols, derivative, modules="numpy"), derivative


def sympy_derivative(
    formula: str, variable: str, params: Mapping[str, float], others: tuple[str, ...] = ()
) -> Evaluator:
    """``d formula / d variable`` from ``sympy.diff``, as a float64 function of tensors.

    The evaluator takes the variable's tensor, then one tensor per name in ``others`` (symbols
    bound elementwise, such as a loss's target), then the values of ``params``. At a kink the
    value is whatever the formula's ``Piecewise`` conditions select, so write formulas with
    PyTorch's conventions (``x > 0`` for ReLU, so that ReLU'(0) = 0).
    """
    names = tuple(sorted(params))
    function, _ = _derivative(formula, variable, (*others, *names))

    def evaluate(
        x: torch.Tensor, values: Mapping[str, float], *bound: torch.Tensor
    ) -> torch.Tensor:
        array = x.detach().to("cpu", torch.float64).numpy()
        arrays = [b.detach().to("cpu", torch.float64).numpy() for b in bound]
        with np.errstate(all="ignore"):
            result = function(array, *arrays, *(values[name] for name in names))
        return torch.from_numpy(
            np.broadcast_to(np.asarray(result, dtype=np.float64), array.shape).copy()
        )

    return evaluate


def derivative_text(
    formula: str, variable: str, params: Mapping[str, float], others: tuple[str, ...] = ()
) -> str:
    """The derivative as sympy prints it, for messages."""
    return str(_derivative(formula, variable, (*others, *sorted(params)))[1])


def explain_gradient_mismatch(report: str) -> str:
    """The failure message for the worker's ``GradientMismatch`` report (JSON data, bounded by
    the worker's error size): what a backward returned against the input it belongs to."""
    try:
        data = json.loads(report)
        function, index = str(data["function"])[:80], int(data["input"])
        (got_shape, got_dtype, got_device), (shape, dtype, device) = data["got"], data["expected"]
        what = f"the gradient {function} returned for its input {index}"
        problem = layout_mismatch(
            [int(n) for n in got_shape],
            _dtype(got_dtype),
            [int(n) for n in shape],
            _dtype(dtype),
            what=what,
        )
        if problem is None:
            misplaced = device_mismatch(str(got_device), torch.device(str(device)), what=what)
            problem = misplaced.message if misplaced else f"{what} does not fit that input."
    except (ValueError, TypeError, KeyError, RuntimeError):
        return "a backward returned a gradient that does not fit its input."
    return problem


def _dtype(name: Any) -> torch.dtype:
    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}")
    return dtype
