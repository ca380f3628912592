"""What the grader accepts from a worker: the schema of a reply's header.

A worker runs the student's code, which can write anything on the reply channel: every header
is checked here, after :func:`deepgrade.sandbox.wire.parse_header` bounded its size, depth and
numbers
and before any of it is used. Each field has its type (no coercion) and a bound on its length;
a header with any other field, or one out of bounds, is a protocol error, which ends the
worker and is the student's ``error``. The encoded ``value`` and ``grads`` are checked node by
node when they are decoded (:func:`deepgrade.sandbox.wire.decode`); a driver's result, once decoded,
is checked against the shape its driver gives it (:func:`check_driven`), as the checks that
read it rely on that shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from deepgrade.sandbox.wire import WireError
from deepgrade.sandbox.worker import drivers
from deepgrade.sandbox.worker.drivers import Driver

# Above what an honest worker sends: it cuts messages at 2000 characters, tracebacks at 4000 and
# type names at 200 (see worker.main), and its output at the output limit plus a
# line that counts the rest.
_MAX_TYPE = 250
_MAX_MESSAGE = 2500
_MAX_TRACEBACK = 4500
_OUTPUT_SLACK = 200
_MAX_NAMES = 1000
_MAX_GRADS = 64

ShortText = Annotated[str, Field(max_length=_MAX_TYPE)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ReplyError(_Strict):
    """An exception the student's code raised, as the worker describes it."""

    type: ShortText = "Error"
    message: str = Field("", max_length=_MAX_MESSAGE)
    traceback: str = Field("", max_length=_MAX_TRACEBACK)


class Reply(_Strict):
    """A reply's header, whichever request it answers."""

    ok: bool
    ready: bool = False
    output: str = ""
    error: ReplyError | None = None
    forbidden_used: list[ShortText] = Field(default_factory=list, max_length=_MAX_NAMES)
    # The detector's report, judged by engine.forbidden.reported_tampering: a malformed one is
    # tampering there (forbidden), not a protocol error here.
    detector: Any = None
    names: dict[ShortText, ShortText] | None = Field(None, max_length=_MAX_NAMES)
    # Encoded values: decode checks them.
    value: Any = None
    grads: list[Any] = Field(default_factory=list, max_length=_MAX_GRADS)


def check_reply(header: dict[str, Any], output_limit: int) -> dict[str, Any]:
    """``header`` if it fits the schema of a reply, else :class:`WireError` saying why."""
    try:
        reply = Reply.model_validate(header)
    except ValidationError as exc:
        raise _refusal("reply", exc) from None
    if len(reply.output) > output_limit + _OUTPUT_SLACK:
        raise WireError(f"reply with {len(reply.output)} characters of output")
    return header


# -- what each driver returns (see worker/drivers.py) ---------------------------------------------
# The fields the checks read as containers; the values in them are compared, not trusted.
class _Driven(BaseModel):
    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)


class ModuleReport(_Driven):
    names: list[str] = []
    shapes: list[list[int]] = []
    parameters: list[Any] = []
    input_grads: list[Any] | None = None
    parameter_grads: list[Any] | None = None


class OptimizerRun(_Driven):
    trajectory: list[Any] = []
    cleared: list[bool] | None = None


class GradientRun(_Driven):
    grads: list[Any] = []


class LoopRun(_Driven):
    steps: list[Any] = []
    final: list[Any] = []
    modes: list[Any] = []


# What each of the worker's drivers returns, and the name a refusal gives it.
_DRIVER_RESULTS: dict[Driver, tuple[str, TypeAdapter[Any]]] = {
    drivers.module_probe: ("module", TypeAdapter(ModuleReport)),
    drivers.optimizer_run: ("optimizer", TypeAdapter(OptimizerRun)),
    drivers.gradient_run: ("gradient", TypeAdapter(GradientRun)),
    drivers.run_loop: ("loop", TypeAdapter(LoopRun)),
    drivers.outcome: ("outcome", TypeAdapter(dict[str, Any])),
    drivers.value_graph: ("value_graph", TypeAdapter(list[dict[str, Any]])),
    drivers.evaluate: ("evaluate", TypeAdapter(list[dict[str, Any]])),
}


def check_driven(driver: Driver, value: Any) -> Any:
    """``value`` (decoded) if it has the shape that ``driver`` returns, else :class:`WireError`."""
    name, shape = _DRIVER_RESULTS[driver]
    try:
        shape.validate_python(value)
    except ValidationError as exc:
        raise _refusal(f"{name} result", exc) from None
    return value


def _refusal(what: str, exc: ValidationError) -> WireError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])[:100]
    return WireError(f"malformed {what} ({where}: {first['msg'][:200]})")
