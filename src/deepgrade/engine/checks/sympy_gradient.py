"""Backward against the grader's own sympy derivative of the exercise's formula."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CheckContext
from deepgrade.engine.checks.inputs import DTYPES, ArgumentsMixin, DTypeName, both_dtypes
from deepgrade.engine.comparison import compare
from deepgrade.engine.gradients import derivative_text, sympy_derivative


@register_check
class SympyGradientCheck(ArgumentsMixin, CheckSpec):
    """The gradient of the first argument equals ``diff(formula) * grad_output`` elementwise.

    Symbols of the formula other than ``variable`` take their values from ``kwargs``, or
    elementwise from the further arguments named in ``others`` (a loss's target). With
    ``reduction = "mean"`` the function returns the mean of the formula over all elements, so
    ``grad_output`` is a scalar and the expected gradient is divided by the element count.
    """

    kind: Literal["sympy_gradient"] = "sympy_gradient"
    formula: str
    variable: str = "x"
    others: list[str] = Field(default_factory=list)
    reduction: Literal["none", "mean"] = "none"
    dtypes: list[DTypeName] = Field(default_factory=both_dtypes)

    def run(self, ctx: CheckContext) -> CheckOutcome:
        # The formula's parameters are the numbers among the keyword arguments.
        params = {k: float(v) for k, v in self.kwargs.items() if isinstance(v, int | float)}
        others = tuple(self.others)
        derivative = sympy_derivative(self.formula, self.variable, params, others)
        for dtype_name in self.dtypes:
            dtype = DTYPES[dtype_name]
            args = self.make_args(dtype, ctx.device)
            generator = torch.Generator().manual_seed(self.seed + 1)
            shape = args[0].shape if self.reduction == "none" else torch.Size([])
            grad_output = torch.randn(shape, generator=generator, dtype=torch.float64)
            local = derivative(args[0], params, *args[1 : 1 + len(others)])
            if self.reduction == "mean":
                local = local / args[0].numel()
            expected = (local * grad_output).to(dtype)
            result = ctx.call(
                self.call,
                args,
                self.kwargs,
                grad_of=[0],
                grad_output=grad_output.to(dtype=dtype, device=ctx.device),
            )
            got = result.grads[0] if result.grads else None
            verdict = compare(
                expected,
                got,
                self.tolerance(dtype, ctx.device),
                got_device=result.grad_devices[0] if result.grad_devices else None,
                expected_device=ctx.device,
                what=f"the gradient of {self.variable}",
            )
            if verdict.ok:
                continue
            call = self.describe_call(args, self.hidden)
            message = f"{call} with {self.grad_output_text(self.hidden)}: {verdict.message}"
            if not self.hidden and verdict.worst_index is not None:
                value = float(args[0].cpu()[verdict.worst_index])
                message += f" The input there is {value:.8g}."
            formula = derivative_text(self.formula, self.variable, params, others)
            message += f" Expected d/d{self.variable} = {formula}."
            if isinstance(got, torch.Tensor) and got.shape == local.shape:
                unscaled = compare(local.to(dtype), got, self.tolerance(dtype, ctx.device))
                if unscaled.ok:
                    message += " Hint: multiply the local derivative by grad_output (chain rule)."
                    return CheckOutcome(False, message)
            return self.failed(message)
        return CheckOutcome(True)
