"""Reference comparison: the student's function against a PyTorch implementation."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CheckContext
from deepgrade.engine.checks.inputs import (
    DTYPES,
    ArgumentsMixin,
    DTypeName,
    both_dtypes,
    to_device,
)
from deepgrade.engine.checks.mistakes import Mistake, recognise
from deepgrade.engine.comparison import EXACT, Tolerance, compare, compare_tree, magnitude


def _clone(value: Any, requires_grad: bool) -> Any:
    if isinstance(value, torch.Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(requires_grad and copy.is_floating_point())
    if isinstance(value, torch.Generator):
        return torch.Generator().set_state(value.get_state())
    if isinstance(value, list | tuple):
        return type(value)(_clone(item, False) for item in value)
    if isinstance(value, dict):
        return {key: _clone(item, False) for key, item in value.items()}
    return value


@register_check
class ReferenceCheck(ArgumentsMixin, CheckSpec):
    """Outputs (and optionally input gradients) equal a reference's, per dtype.

    The reference runs in the grader on its own copy of the inputs; with ``backward = true``
    both sides receive the same random ``grad_output`` and the gradients of the arguments in
    ``grad_args`` are compared with the reference's autograd gradients. Outputs may be tensors,
    numbers or tuples, lists and dicts of them. A failing output is replayed against each
    declared ``mistakes`` entry, so that a recognised mistake earns its specific hint.
    """

    kind: Literal["reference"] = "reference"
    reference: str = Field(description="Dotted name of the reference, or lab:<name>.")
    dtypes: list[DTypeName] = Field(default_factory=both_dtypes)
    backward: bool = False
    untouched: bool = Field(False, description="Also require the arguments to be left unchanged.")
    collect: bool = Field(False, description="Compare the list of what the result yields.")
    mistakes: list[Mistake] = Field(default_factory=list)

    def run(self, ctx: CheckContext) -> CheckOutcome:
        for dtype_name in self.dtypes:
            dtype = DTYPES[dtype_name]
            args, kwargs = self.make_inputs(ctx, dtype)
            grad_of = self.gradient_positions(args) if self.backward else []
            reference_side = {
                "args": args,
                "kwargs": kwargs,
                "collect": self.collect,
                "grad_of": grad_of,
                "grad_seed": self.seed + 1 if self.backward else None,
                "dtype": dtype_name,
            }
            expected, wanted_grads = ctx.run_reference(self.reference, _expected, reference_side)
            grad_output = None
            if self.backward:
                grad_output = to_device(_grad_output(expected, self.seed + 1, dtype), ctx.device)
            result = ctx.call(
                self.call,
                args,
                kwargs,
                grad_of=grad_of,
                grad_output=grad_output,
                return_args=self.untouched,
                collect=self.collect,
                detached_ok=self.backward,
            )
            where = self.describe_call(args, self.hidden, kwargs)
            # Inputs of 1e4 make any correct float32 result off by about 1e-3 (see at_scale).
            tolerance = self.tolerance(dtype, ctx.device).at_scale(magnitude(args), dtype)
            verdict = compare_tree(
                expected,
                result.value,
                tolerance,
                got_device=result.value_device,
                expected_device=ctx.device,
            )
            # A modified input comes first: it is what made the output wrong, if it is wrong,
            # and a hint about the values (a constant factor, a known mistake) would hide it.
            # The check's own hint stays: a check that declares ``untouched`` gives it for this.
            changed = (
                compare_tree(_detached(args), result.grads, EXACT, what="argument")
                if self.untouched
                else None
            )
            if changed is not None and not changed.ok:
                return self.failed(
                    f"{where} modified its arguments in place ({_without_hint(changed.message)}) "
                    "Build new tensors instead of updating the inputs."
                )
            if not verdict.ok:
                hint = self._recognise(ctx, args, kwargs, result.value, tolerance)
                return self.failed(
                    f"{where}: {verdict.message}{self._at(args, expected, verdict.worst_index)}",
                    hint,
                )
            if grad_of and all(grad is None for grad in result.grads):
                return self.failed(
                    f"{where}: no gradient flows back to the inputs: the output is cut off from "
                    "their graph (.detach(), .item(), torch.no_grad() or a tensor rebuilt from "
                    "numbers), so backward() cannot train through it."
                )
            for position, wanted, got, device in zip(
                grad_of, wanted_grads, result.grads, result.grad_devices, strict=False
            ):
                verdict = compare(
                    wanted,
                    got,
                    tolerance,
                    got_device=device,
                    expected_device=ctx.device,
                    what=f"the gradient of argument {position + 1}",
                )
                if not verdict.ok:
                    # Only the first argument's gradient lies element for element on the
                    # input shown (another's, a PReLU's a say, has a shape of its own).
                    at = self._at(args, expected, verdict.worst_index) if position == 0 else ""
                    return self.failed(
                        f"{where} with {self.grad_output_text(self.hidden)}: {verdict.message}{at}"
                    )
        return CheckOutcome(True)

    def _recognise(
        self,
        ctx: CheckContext,
        args: list[Any],
        kwargs: dict[str, Any],
        got: Any,
        tolerance: Tolerance,
    ) -> str | None:
        def matches(wrong: Any, value: Any) -> bool:
            return compare_tree(_detached(wrong), value, tolerance).ok

        payload = {"args": args, "kwargs": kwargs, "collect": self.collect}
        return recognise(ctx, self.mistakes, got, _replay, payload, matches)

    def _at(self, args: list[Any], expected: Any, index: tuple[int, ...] | None) -> str:
        """The input element behind the worst output element, for elementwise functions."""
        if self.hidden or not index or not args or not isinstance(args[0], torch.Tensor):
            return ""
        if not isinstance(expected, torch.Tensor) or expected.shape != args[0].shape:
            return ""
        return f" The input there is {float(args[0].cpu()[index]):.8g}."


def _without_hint(message: str) -> str:
    """A comparison's message without its hint: a changed input has no "constant factor"."""
    return message.partition(" Hint: ")[0]


def _grad_output(
    expected: Any, seed: int, dtype: torch.dtype
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The random ``grad_output`` that both the reference and the student's code receive: one
    for a tensor result, a tuple of them for a tuple of tensors (attention's output and
    weights), drawn one after the other from the same seed."""
    generator = torch.Generator().manual_seed(seed)
    outputs = expected if isinstance(expected, tuple) else (expected,)
    drawn = tuple(
        torch.randn(t.shape, generator=generator, dtype=torch.float64).to(dtype) for t in outputs
    )
    return drawn if isinstance(expected, tuple) else drawn[0]


def _expected(reference: Any, payload: dict[str, Any]) -> tuple[Any, list[torch.Tensor]]:
    """The reference's output on its own copy of the inputs, and (with a ``grad_seed``) the
    gradients of the arguments in ``grad_of``, all detached on the CPU."""
    grad_of = payload["grad_of"]
    args = [_clone(a, i in grad_of) for i, a in enumerate(payload["args"])]
    expected = reference(*args, **_clone(payload["kwargs"], False))
    if payload["collect"]:
        expected = list(expected)
    if payload["grad_seed"] is None:
        return _detached(expected), []
    grad_output = _grad_output(expected, payload["grad_seed"], DTYPES[payload["dtype"]])
    outputs = expected if isinstance(expected, tuple) else (expected,)
    grad_outputs = grad_output if isinstance(grad_output, tuple) else (grad_output,)
    moved = [g.to(t.device) for g, t in zip(grad_outputs, outputs, strict=True)]
    torch.autograd.backward(outputs, moved)
    grads = [args[position].grad for position in grad_of]
    assert all(grad is not None for grad in grads)
    return _detached(expected), [_detached(grad) for grad in grads]


def _replay(wrong: Any, payload: dict[str, Any]) -> Any:
    """A mistake run like the reference, on its own copy of the inputs."""
    result = wrong(*_clone(payload["args"], False), **_clone(payload["kwargs"], False))
    return list(result) if payload["collect"] else result


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, list | tuple):
        return type(value)(_detached(item) for item in value)
    if isinstance(value, dict):
        return {key: _detached(item) for key, item in value.items()}
    return value
