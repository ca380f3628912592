"""Reference comparison: the student's function against a PyTorch implementation."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from deepgrade.checks.base import (
    DTYPES,
    ArgumentsMixin,
    CheckContext,
    CheckOutcome,
    CheckSpec,
    DTypeName,
    both_dtypes,
    register_check,
)
from deepgrade.comparison import compare


@register_check
class ReferenceCheck(ArgumentsMixin, CheckSpec):
    """Outputs (and optionally input gradients) equal a reference's, per dtype.

    The reference runs in the grader on its own copy of the inputs; with ``backward = true``
    both sides receive the same random ``grad_output`` and the gradients of every tensor
    argument are compared with the reference's autograd gradients.
    """

    kind: Literal["reference"] = "reference"
    reference: str = Field(description="Dotted name of the reference, or lab:<name>.")
    dtypes: list[DTypeName] = Field(default_factory=both_dtypes)
    backward: bool = False

    def run(self, ctx: CheckContext) -> CheckOutcome:
        reference = ctx.resolve(self.reference)
        for dtype_name in self.dtypes:
            dtype = DTYPES[dtype_name]
            args = self.make_args(dtype, ctx.device)
            grad_of = list(range(len(args))) if self.backward else []
            ref_args = [a.clone().requires_grad_(self.backward) for a in args]
            expected = reference(*ref_args, **self.kwargs)
            grad_output = None
            if self.backward:
                generator = torch.Generator().manual_seed(self.seed + 1)
                grad_output = torch.randn(expected.shape, generator=generator, dtype=torch.float64)
                grad_output = grad_output.to(dtype=dtype, device=ctx.device)
            result = ctx.call(
                self.call, args, self.kwargs, grad_of=grad_of, grad_output=grad_output
            )
            where = self.describe_call(args, self.hidden)
            verdict = compare(
                expected.detach().cpu(),
                result.value,
                self.tolerance(dtype),
                got_device=result.value_device,
                expected_device=ctx.device,
                what="the output",
            )
            if not verdict.ok:
                return self.failed(
                    f"{where}: {verdict.message}{self._at(args, verdict.worst_index)}"
                )
            if not self.backward or grad_output is None:
                continue
            expected.backward(grad_output)
            for position, (ref_arg, got) in enumerate(zip(ref_args, result.grads, strict=False)):
                assert ref_arg.grad is not None
                verdict = compare(
                    ref_arg.grad.cpu(),
                    got,
                    self.tolerance(dtype),
                    got_device=result.grad_devices[position],
                    expected_device=ctx.device,
                    what=f"the gradient of argument {position + 1}",
                )
                if not verdict.ok:
                    return self.failed(
                        f"{where} with {self.grad_output_text(self.hidden)}: "
                        f"{verdict.message}{self._at(args, verdict.worst_index)}"
                    )
        return CheckOutcome(True)

    def _at(self, args: list[torch.Tensor], index: tuple[int, ...] | None) -> str:
        """The input element behind the worst output element, for elementwise functions."""
        if self.hidden or index is None or not args or len(index) != args[0].dim():
            return ""
        return f" The input there is {float(args[0].cpu()[index]):.8g}."
