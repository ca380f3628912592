"""``torch.autograd.gradcheck`` of the student's backward, through the process boundary."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Literal

import torch

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CallResult, CheckContext, StudentFailure, StudentTimeout
from deepgrade.engine.checks.inputs import ArgumentsMixin
from deepgrade.sandbox.worker.drivers import evaluate

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
    dozens of round trips. So the first forward fetches the forwards of finite differences,
    and the first backward the backwards of the Jacobian, in one request each (see
    ``drivers.evaluate``; large inputs take a few, each made when its calls are reached);
    they are answered from here, recognised by their exact inputs. A call not foreseen still
    goes to the worker on its own. Each phase is fetched only once ``gradcheck`` has reached
    it, so that the worker runs no call that ``gradcheck`` would not make (unless it gives up
    on a result mid-phase: a forward that returns no tensor, a backward whose gradient has the
    wrong shape).
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
        self._phases: set[str] = set()
        self._pending: Iterator[list[_Call]] = iter(())
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
        if phase not in self._phases:
            self._phases.add(phase)
            # Answers left over belong to calls that gradcheck, having moved on, never makes.
            self._ahead.clear()
            self._pending = iter(())
            if all(isinstance(a, torch.Tensor) for a in args):
                # A copy: the calls are foreseen lazily, while gradcheck perturbs its inputs.
                now = [a.detach().clone() for a in args]
                foreseen = (
                    _finite_difference_calls(now, self._positions)
                    if grad_output is None
                    else _jacobian_calls(now, grad_output.clone())
                )
                self._pending = _chunks(foreseen)
        key = _key(args, grad_output)
        if not self._ahead.get(key):
            self._fetch_next()
        answers = self._ahead.get(key)
        if answers:
            return answers.popleft()
        return self._ctx.call(
            self._target,
            args,
            self._kwargs,
            grad_of=self._positions if grad_output is not None else (),
            grad_output=grad_output,
        )

    def _fetch_next(self) -> None:
        """Evaluate the next requestful of foreseen calls in the worker, if any are left."""
        # Foreseeing goes on only if the whole chunk comes back: from a call that failed on,
        # calls are made one by one, so that the failure reads as it would have.
        pending, self._pending = self._pending, iter(())
        chunk = next(pending, None)
        if chunk is None:
            return
        payload = {
            "calls": [{"args": a, "grad_output": g} for a, g in chunk],
            "kwargs": self._kwargs,
            "grad_of": self._positions,
            "result_bytes": _REQUEST_BYTES,
        }
        try:
            results = self._ctx.drive(evaluate, self._target, payload)
        except StudentTimeout:
            raise  # the time is spent either way
        except StudentFailure:
            return  # made one by one, the calls fail where gradcheck makes them
        if not isinstance(results, list):
            return
        for (args, grad_output), result in zip(chunk, results, strict=False):
            answer = _as_result(result)
            if answer is None:
                return
            self._ahead.setdefault(_key(args, grad_output), deque()).append(answer)
        if len(results) == len(chunk):
            self._pending = pending


def _finite_difference_calls(args: list[torch.Tensor], positions: Sequence[int]) -> Iterator[_Call]:
    """The forwards of ``gradcheck`` (slow mode), its first one included, in its order.

    Finite differences perturb every element of every input that requires grad, in place and
    in order, by ``-eps`` then ``+eps`` (``torch.autograd.gradcheck._compute_numerical_gradient``,
    whose arithmetic is repeated here so that the perturbed values match bit for bit).
    """
    yield args, None
    for position in sorted(set(positions)):
        base = args[position]
        for index in itertools.product(*(range(n) for n in base.shape)):
            original = base[index].clone()
            for perturbed in (original - _EPS, original + _EPS):
                moved = base.clone()
                moved[index] = perturbed
                yield [*args[:position], moved, *args[position + 1 :]], None


def _jacobian_calls(args: list[torch.Tensor], first: torch.Tensor) -> Iterator[_Call]:
    """The backwards of ``gradcheck``'s analytical Jacobian; ``first`` is the first's
    ``grad_output``, whose shape and dtype are the output's.

    It runs backward on each unit ``grad_output`` in turn, then on each again (the second
    pass checks that backward is deterministic). The call on zeros that follows is left to be
    made on its own: ``gradcheck`` makes it only when the Jacobians match.
    """
    for _ in range(2):
        for element in range(first.numel()):
            unit = torch.zeros_like(first, memory_format=torch.contiguous_format)
            unit.view(-1)[element] = 1.0
            yield args, unit


def _chunks(calls: Iterator[_Call]) -> Iterator[list[_Call]]:
    """``calls`` in requestfuls whose tensors stay near ``_REQUEST_BYTES``."""
    chunk: list[_Call] = []
    size = 0
    for call in calls:
        args, grad_output = call
        # What goes out, and about as much coming back.
        weight = 2 * sum(_nbytes(t) for t in args)
        weight += 0 if grad_output is None else _nbytes(grad_output)
        if chunk and size + weight > _REQUEST_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(call)
        size += weight
    if chunk:
        yield chunk


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
