"""Mathematical properties of the student's function on seeded random inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from pydantic import Field

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CheckContext
from deepgrade.engine.checks.inputs import DTYPES, ArgumentsMixin, DTypeName, both_dtypes
from deepgrade.engine.comparison import Comparison, Tolerance, compare, device_mismatch

# A property gets a way to call the student's function on one tensor, the input, the call's
# keyword arguments and the tolerance; it returns the comparison that must hold. Both sides of
# a property come from the student's results, so they are compared with ``derived = True``.
Property = Callable[
    [Callable[[torch.Tensor], Any], torch.Tensor, dict[str, Any], Tolerance], Comparison
]
_PROPERTIES: dict[str, tuple[Property, str]] = {}


def register_property(name: str, statement: str) -> Callable[[Property], Property]:
    """Add a named property usable as ``property = "<name>"`` in lab files."""

    def decorate(function: Property) -> Property:
        _PROPERTIES[name] = (function, statement)
        return function

    return decorate


@register_property("complement", "f(-x) = 1 - f(x)")
def _complement(
    f: Callable[[torch.Tensor], Any], x: torch.Tensor, kw: dict[str, Any], tol: Tolerance
) -> Comparison:
    expected = f(x)
    if not isinstance(expected, torch.Tensor):
        return compare(x, expected, tol)
    return compare(1 - expected, f(-x), tol, what="f(-x)", derived=True)


@register_property("sums_to_one", "f(x) sums to 1 along dim")
def _sums_to_one(
    f: Callable[[torch.Tensor], Any], x: torch.Tensor, kw: dict[str, Any], tol: Tolerance
) -> Comparison:
    out = f(x)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        return compare(x, out, tol)
    total = out.sum(dim=int(kw.get("dim", -1)))
    return compare(torch.ones_like(total), total, tol, what="the sum along dim", derived=True)


@register_property("shift_invariance", "f(x + c) = f(x) for a constant c along dim")
def _shift_invariance(
    f: Callable[[torch.Tensor], Any], x: torch.Tensor, kw: dict[str, Any], tol: Tolerance
) -> Comparison:
    dim = int(kw.get("dim", -1))
    shape = list(x.shape)
    shape[dim] = 1
    shift = 10 * torch.randn(shape, generator=torch.Generator().manual_seed(7), dtype=x.dtype)
    return compare(
        _as_tensor(f(x), x), f(x + shift.to(x.device)), tol, what="f(x + c)", derived=True
    )


def _as_tensor(value: Any, like: torch.Tensor) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.full_like(like, torch.nan)


@register_check
class PropertyCheck(ArgumentsMixin, CheckSpec):
    """A named property (see ``register_property``) holds for the student's function."""

    kind: Literal["property"] = "property"
    property: str
    dtypes: list[DTypeName] = Field(default_factory=both_dtypes)

    def run(self, ctx: CheckContext) -> CheckOutcome:
        if self.property not in _PROPERTIES:
            raise ValueError(f"unknown property {self.property!r}; known: {sorted(_PROPERTIES)}")
        prop, statement = _PROPERTIES[self.property]
        misplaced: list[Comparison] = []  # results the worker reported on another device
        for dtype_name in self.dtypes:
            dtype = DTYPES[dtype_name]
            x = self.make_args(dtype, ctx.device)[0]

            def call(t: torch.Tensor) -> Any:
                result = ctx.call(self.call, [t.to(ctx.device)], self.kwargs)
                wrong = device_mismatch(result.value_device, ctx.device, what="f(x)")
                if wrong is not None:
                    misplaced.append(wrong)
                return result.value

            # Replies arrive on the CPU, so the property is evaluated there.
            verdict = prop(call, x.cpu(), dict(self.kwargs), self.tolerance(dtype, ctx.device))
            # A result on the wrong device fails even where the property's numbers hold.
            verdict = misplaced[0] if misplaced else verdict
            if not verdict.ok:
                return self.failed(
                    f"{statement} does not hold for {self.describe_call([x], self.hidden)}: "
                    f"{verdict.message}"
                )
        return CheckOutcome(True)
