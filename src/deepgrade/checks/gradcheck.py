"""``torch.autograd.gradcheck`` of the student's backward, through the process boundary."""

from __future__ import annotations

from typing import Any, Literal

import torch

from deepgrade.checks.base import (
    ArgumentsMixin,
    CheckContext,
    CheckOutcome,
    CheckSpec,
    StudentFailure,
    register_check,
)

_MESSAGE_LIMIT = 600


class _Remote:
    """Builds an autograd ``Function`` whose forward and backward run in the worker.

    ``gradcheck`` then runs in the grader, on numbers computed by the student's code only.
    A failure of the student's code is kept aside and re-raised after ``gradcheck`` returns,
    because autograd may wrap exceptions raised inside a backward.
    """

    def __init__(
        self,
        ctx: CheckContext,
        spec: GradcheckCheck,
        kwargs: dict[str, Any],
        positions: list[int],
    ) -> None:
        self.failure: StudentFailure | None = None
        remote = self

        class Proxy(torch.autograd.Function):
            @staticmethod
            def forward(fctx: Any, *args: torch.Tensor) -> torch.Tensor:
                fctx.save_for_backward(*args)
                value = remote.guard(lambda: ctx.call(spec.call, args, kwargs).value)
                if not isinstance(value, torch.Tensor):
                    raise _NotATensor(type(value).__name__)
                return value.to(ctx.device)

            @staticmethod
            def backward(fctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
                args = fctx.saved_tensors
                grads = remote.guard(
                    lambda: (
                        ctx.call(
                            spec.call,
                            [a.detach() for a in args],
                            kwargs,
                            grad_of=positions,
                            grad_output=grad_output.contiguous(),
                        ).grads
                    )
                )
                by_position = dict(zip(positions, grads, strict=False))
                return tuple(
                    g.to(ctx.device) if isinstance(g, torch.Tensor) else None
                    for g in (by_position.get(i) for i in range(len(args)))
                )

        self.function = Proxy

    def guard(self, action: Any) -> Any:
        try:
            return action()
        except StudentFailure as failure:
            self.failure = failure
            raise


class _NotATensor(Exception):
    pass


@register_check
class GradcheckCheck(ArgumentsMixin, CheckSpec):
    """Analytic gradients match finite differences in float64 (inputs away from kinks)."""

    kind: Literal["gradcheck"] = "gradcheck"

    def run(self, ctx: CheckContext) -> CheckOutcome:
        args, kwargs = self.make_inputs(ctx, torch.float64)
        positions = self.gradient_positions(args)
        for position in positions:
            args[position].requires_grad_(True)
        remote = _Remote(ctx, self, kwargs, positions)
        where = self.describe_call(args, self.hidden, kwargs)
        try:
            torch.autograd.gradcheck(remote.function.apply, args, check_undefined_grad=False)
        except _NotATensor as exc:
            return self.failed(f"{where} returned {exc}, not a tensor.")
        except Exception as exc:
            if remote.failure is not None:
                raise remote.failure from None
            # The first line names the output and input; the Jacobians that follow are noise.
            detail = str(exc).strip().split("\n")[0].rstrip(",")[:_MESSAGE_LIMIT]
            return self.failed(
                f"gradcheck in float64 of {where} failed: your backward does not match "
                f"finite differences of your forward ({detail})."
            )
        return CheckOutcome(True)
