"""Derivatives the grader trusts: sympy derivations evaluated numerically, and gradcheck."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import torch

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
