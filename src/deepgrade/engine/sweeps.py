"""An exercise's function drawn against its reference: values and derivatives over a range.

A failed check names one worst element; a plot of the whole function shows the shape of the
mistake (a wrong slope on one side, a kink in the wrong place, a curve that saturates too early).
The inputs are the grader's own evenly spaced grid, never a hidden input, so the figure may be
shown to students. The reference side goes through :meth:`CheckContext.run_reference` like any
check's, so a student release replays it from its recordings.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from loguru import logger

from deepgrade.engine.checks.context import (
    CheckContext,
    StudentFailure,
    StudentForbidden,
    StudentRaised,
    StudentTimeout,
)
from deepgrade.engine.comparison import default_tolerance
from deepgrade.model.results import Sweep
from deepgrade.model.spec import PlotSpec


def plot_inputs(plot: PlotSpec) -> torch.Tensor:
    """Evenly spaced inputs; the one next to 0 is exactly 0, where kinks usually are."""
    low, high = plot.range
    inputs = torch.linspace(low, high, plot.points, dtype=torch.float64)
    return torch.where(inputs.abs() < 1e-9 * (high - low), 0.0, inputs)


def reference_side(ctx: CheckContext, plot: PlotSpec) -> list[torch.Tensor]:
    """The reference's values on the plot's inputs, and its derivatives when the plot has them."""
    payload = {"inputs": plot_inputs(plot), "kwargs": dict(plot.kwargs), "gradient": plot.gradient}
    result = ctx.run_reference(plot.reference, _reference_values, payload)
    return list(result)


def sweep(ctx: CheckContext, plot: PlotSpec) -> Sweep | None:
    """The student's function and the reference over the plot's range, or ``None`` where
    either side gives nothing to draw.

    Student failures other than a forbidden call (which the caller grades) only cost the
    figure. A timeout propagates: the worker is gone, and the caller must know.
    """
    try:
        expected = reference_side(ctx, plot)
    except Exception:
        # A reference or recording that cannot draw this costs the figure, never the grade.
        logger.exception("the plot of {} has no reference values", plot.call)
        return None
    inputs = plot_inputs(plot)
    got = _student_side(ctx, plot, inputs)
    if not got or not _matches(expected[0], got[0]):
        return None
    both = len(expected) > 1 and len(got) > 1 and _matches(expected[1], got[1])
    gradients = (expected[1], got[1]) if both else None
    tolerance = default_tolerance(torch.float64)
    return Sweep(
        call=plot.call,
        inputs=inputs.tolist(),
        expected=expected[0].tolist(),
        got=got[0].tolist(),
        expected_gradient=gradients[0].tolist() if gradients else [],
        got_gradient=gradients[1].tolist() if gradients else [],
        rtol=tolerance.rtol,
        atol=tolerance.atol,
    )


def _student_side(ctx: CheckContext, plot: PlotSpec, inputs: torch.Tensor) -> list[torch.Tensor]:
    """The student's values (and derivatives, if the backward pass runs) on ``inputs``."""
    inputs = inputs.to(ctx.device)
    attempts = [True, False] if plot.gradient else [False]
    for with_gradient in attempts:
        try:
            result = ctx.call(
                plot.call,
                [inputs],
                dict(plot.kwargs),
                grad_of=[0] if with_gradient else [],
                grad_output=torch.ones_like(inputs) if with_gradient else None,
            )
        except (StudentForbidden, StudentTimeout):
            raise
        except StudentFailure as failure:
            if isinstance(failure, StudentRaised) and failure.type_name == "ProcessExit":
                return []  # the worker is gone: another try would pay for a new one
            continue  # a backward that fails may follow a forward that runs
        values = [result.value, *result.grads[:1]]
        return [_cpu(value) for value in values] if all(_is_tensor(v) for v in values) else []
    return []


def _reference_values(reference: Any, payload: dict[str, Any]) -> list[torch.Tensor]:
    inputs = payload["inputs"].clone().requires_grad_(payload["gradient"])
    values = reference(inputs, **payload["kwargs"])
    if not payload["gradient"]:
        return [values.detach()]
    (gradient,) = torch.autograd.grad(values.sum(), inputs)
    return [values.detach(), gradient.detach()]


def _is_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def _cpu(value: torch.Tensor) -> torch.Tensor:
    return value.detach().to("cpu", torch.float64)


def _matches(expected: torch.Tensor, got: torch.Tensor) -> bool:
    """Whether ``got`` can be drawn against ``expected``: the same number of finite-or-not
    floats (a reference that is itself not finite has nothing to draw)."""
    return (
        got.shape == expected.shape
        and expected.dim() == 1
        and all(math.isfinite(v) for v in expected.tolist())
    )
