"""What a check reaches the student's code through: its context, the results of calls and
the failures they end in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch

from deepgrade.model.spec import register_check as register_check
from deepgrade.sandbox.worker.drivers import Driver


class StudentFailure(Exception):
    """The student's code did not produce a result; carries the status it earns."""

    status: ClassVar[str] = "error"


class StudentRaised(StudentFailure):
    """The student's code raised an exception."""

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.traceback = traceback


class StudentNotImplemented(StudentRaised):
    """The stub still raises ``NotImplementedError``."""

    status = "not_implemented"


class StudentWrongGradient(StudentFailure):
    """The student's backward returned a gradient of the wrong shape, dtype or device: a wrong
    answer, worded as a forward's would be, not a crash."""

    status = "failed"


class StudentTimeout(StudentFailure):
    """The student's code ran past its time limit and was killed."""

    status = "timeout"


class StudentForbidden(StudentFailure):
    """The student's code called a PyTorch function that the exercise forbids."""

    status = "forbidden"


@dataclass(frozen=True)
class CallResult:
    """What a call into the student's code returned, as decoded by the grader."""

    value: Any
    grads: list[Any] = field(default_factory=list)
    value_device: str | None = None
    grad_devices: list[str | None] = field(default_factory=list)


class CheckContext(Protocol):
    """What a check may use: the student's functions (behind a process boundary) and settings."""

    @property
    def device(self) -> torch.device: ...

    def call(
        self,
        target: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any] | None = None,
        *,
        grad_of: Sequence[int] = (),
        grad_output: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
        return_args: bool = False,
        collect: bool = False,
        detached_ok: bool = False,
    ) -> CallResult:
        """Call ``target`` in the worker; raises a :class:`StudentFailure` when it fails.

        With ``return_args``, ``grads`` holds the arguments as the call left them instead;
        with ``collect``, the result is iterated and its items come back as a list; with
        ``detached_ok``, a result that no gradient can flow back through (a Python number, a
        detached tensor) comes back with ``None`` gradients instead of failing the call, so
        that a check can judge its value first and call the missing gradient a wrong answer.
        """
        ...

    def drive(self, driver: Driver, target: str, payload: Mapping[str, Any]) -> Any:
        """Run one of the worker's drivers (``sandbox.worker.drivers``) on the student's
        ``target``, there."""
        ...

    def resolve(self, reference: str) -> Any:
        """The grader-side object named ``reference`` (``torch.sigmoid``, ``lab:heaviside``)."""
        ...

    def run_reference(self, reference: str, harness: Harness, payload: Any) -> Any:
        """``harness(resolve(reference), payload)``: all reference-side work goes through here.

        A student release ships no reference code: there the result is replayed from what was
        recorded at release time, keyed by the reference, the harness and the payload.
        """
        ...


Harness = Callable[[Any, Any], Any]


def call_with(function: Any, payload: tuple[Sequence[Any], Mapping[str, Any]]) -> Any:
    """The harness of plain calls: ``payload`` holds the positional and keyword arguments."""
    args, kwargs = payload
    return function(*args, **kwargs)
