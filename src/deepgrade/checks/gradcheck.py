"""``torch.autograd.gradcheck`` of the student's backward, through the process boundary."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

import torch

from deepgrade.checks.base import (
    ArgumentsMixin,
    CallResult,
    CheckContext,
    CheckOutcome,
    CheckSpec,
    StudentFailure,
    StudentTimeout,
    register_check,
)

_MESSAGE_LIMIT = 600
# gradcheck's own default, passed explicitly: the calls fetched ahead perturb by this much.
_EPS = 1e-6
# Bytes of tensors, sent and returned, in one request that fetches calls ahead.
_REQUEST_BYTES = 8 << 20


_Call = tuple[list[torch.Tensor], torch.Tensor | None]


class _Remote:
    """Builds an autograd ``Function`` whose forward and backward run in the worker.

    ``gradcheck`` then runs in the grader, on numbers computed by the student's code only.
    A failure of the student's code is kept aside and re-raised after ``gradcheck`` returns,
    because autograd may wrap exceptions raised inside a backward.

    Finite differences call the forward twice per input element, and the analytical Jacobian
    calls the backward twice per output element: a request each would make one check cost
    dozens of round trips. So the first forward fetches every forward of finite differences,
    and the first backward every backward of the Jacobian, each in one request (see
    ``_drivers.evaluate``); they are answered from here, recognised by their exact inputs. A
    call not foreseen still goes to the worker on its own. Each phase is fetched only once
    ``gradcheck`` has reached it, so that the worker runs no call that ``gradcheck`` would not
    make (unless it gives up on a result mid-phase: a forward that returns no tensor, a
    backward whose gradient has the wrong shape).
    """

    def __init__(
        self,
        ctx: CheckContext,
        spec: GradcheckCheck,
        kwargs: dict[str, Any],
        positions: list[int],
    ) -> None:
        self.failure: StudentFailure | None = None
        self._ctx = ctx
        self._target = spec.call
        self._kwargs = kwargs
        self._positions = positions
        self._ahead: dict[Hashable, deque[CallResult]] = {}
        self._fetched = {"forward": False, "backward": False}
        remote = self

        class Proxy(torch.autograd.Function):
            @staticmethod
            def forward(fctx: Any, *args: torch.Tensor) -> torch.Tensor:
                fctx.save_for_backward(*args)
                value = remote.guard(lambda: remote.call(list(args), None).value)
                if not isinstance(value, torch.Tensor):
                    raise _NotATensor(type(value).__name__)
                return value.to(ctx.device)

            @staticmethod
            def backward(fctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
                args = [a.detach() for a in fctx.saved_tensors]
                grads = remote.guard(lambda: remote.call(args, grad_output.contiguous()).grads)
                by_position = dict(zip(positions, grads, strict=False))
                return tuple(
                    g.to(ctx.device) if isinstance(g, torch.Tensor) else None
                    for g in (by_position.get(i) for i in range(len(args)))
                )

        self.function = Proxy

    def guard(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except StudentFailure as failure:
            self.failure = failure
            raise

    def call(self, args: list[torch.Tensor], grad_output: torch.Tensor | None) -> CallResult:
        """The target's result on ``args`` (its gradients, with a ``grad_output``)."""
        phase = "forward" if grad_output is None else "backward"
        if not self._fetched[phase]:
            self._fetched[phase] = True
            if grad_output is None:
                self._fetch(_finite_difference_calls(args, self._positions))
            else:
                self._fetch(_jacobian_calls(args, grad_output))
        answers = self._ahead.get(_key(args, grad_output))
        if answers:
            return answers.popleft()
        return self._ctx.call(
            self._target,
            args,
            self._kwargs,
            grad_of=self._positions if grad_output is not None else (),
            grad_output=grad_output,
        )

    def _fetch(self, calls: list[_Call]) -> None:
        """Evaluate ``calls`` in the worker, in as few requests as their sizes allow."""
        if not all(isinstance(a, torch.Tensor) for a in calls[0][0]):
            return
        for chunk in _chunks(calls):
            payload = {
                "calls": [{"args": a, "grad_output": g} for a, g in chunk],
                "kwargs": self._kwargs,
                "grad_of": self._positions,
            }
            try:
                results = self._ctx.drive("evaluate", self._target, payload)
            except StudentTimeout:
                raise  # the time is spent either way
            except StudentFailure:
                # Made one by one, the calls fail where gradcheck makes them, in their words.
                return
            if not isinstance(results, list):
                return
            for (args, grad_output), result in zip(chunk, results, strict=False):
                answer = _as_result(result)
                if answer is None:
                    return
                self._ahead.setdefault(_key(args, grad_output), deque()).append(answer)
            if len(results) < len(chunk):
                return  # a call raised: the worker stopped there, and so do we


def _finite_difference_calls(args: list[torch.Tensor], positions: Sequence[int]) -> list[_Call]:
    """The forwards of ``gradcheck`` (slow mode), its first one included, in its order.

    Finite differences perturb every element of every input that requires grad, in place and
    in order, by ``-eps`` then ``+eps`` (``torch.autograd.gradcheck._compute_numerical_gradient``,
    whose arithmetic is repeated here so that the perturbed values match bit for bit).
    """
    calls: list[_Call] = [(args, None)]
    for position in sorted(set(positions)):
        base = args[position].detach()
        for index in itertools.product(*(range(n) for n in base.shape)):
            original = base[index].clone()
            for perturbed in (original - _EPS, original + _EPS):
                moved = base.clone()
                moved[index] = perturbed
                calls.append(([*args[:position], moved, *args[position + 1 :]], None))
    return calls


def _jacobian_calls(args: list[torch.Tensor], first: torch.Tensor) -> list[_Call]:
    """The backwards of ``gradcheck``'s analytical Jacobian; ``first`` is the first's
    ``grad_output``, whose shape and dtype are the output's.

    It runs backward on each unit ``grad_output`` in turn, then on each again (the second
    pass checks that backward is deterministic). The call on zeros that follows is left to be
    made on its own: ``gradcheck`` makes it only when the Jacobians match.
    """
    rows: list[_Call] = []
    for element in range(first.numel()):
        unit = torch.zeros_like(first, memory_format=torch.contiguous_format)
        unit.view(-1)[element] = 1.0
        rows.append((args, unit))
    return rows + rows


def _chunks(calls: list[_Call]) -> list[list[_Call]]:
    """``calls`` cut so that each request's tensors stay near ``_REQUEST_BYTES``."""
    chunks: list[list[_Call]] = [[]]
    size = 0
    for call in calls:
        args, grad_output = call
        # What goes out, and about as much coming back.
        weight = 2 * sum(
            _nbytes(t) for t in [*args, *([grad_output] if grad_output is not None else [])]
        )
        if chunks[-1] and size + weight > _REQUEST_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(call)
        size += weight
    return chunks


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def _as_result(data: Any) -> CallResult | None:
    """One evaluated call as :meth:`CheckContext.call` would return it (``None``: unreadable)."""
    if not isinstance(data, dict):
        return None
    if "grads" in data:
        grads = data["grads"]
        return CallResult(value=None, grads=list(grads)) if isinstance(grads, list) else None
    return CallResult(value=data.get("value"))


def _key(args: Sequence[Any], grad_output: torch.Tensor | None) -> Hashable:
    """A call's tensors by value, bit for bit (other arguments by identity).

    gradcheck perturbs its inputs in place, so a call is recognised by what its tensors hold
    at the time, not by which tensor objects it was given.
    """
    parts = [_fingerprint(a) if isinstance(a, torch.Tensor) else id(a) for a in args]
    return (grad_output is not None and _fingerprint(grad_output), *parts)


def _fingerprint(tensor: torch.Tensor) -> tuple[str, tuple[int, ...], bytes]:
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return str(tensor.dtype), tuple(tensor.shape), flat.view(torch.uint8).numpy().tobytes()


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
            torch.autograd.gradcheck(
                remote.function.apply, args, eps=_EPS, check_undefined_grad=False
            )
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
