"""The worker process: runs one submission's code and answers the grader's calls.

Everything here executes next to untrusted code, so it holds no verdict, no reference and no
seed: it runs cells, calls the functions it is told to call on the inputs it is sent, and sends
back raw results. The grader treats every reply as hostile data.

Protocol: requests arrive on file descriptor 3, replies leave on file descriptor 4 (so that the
student's prints on 1 and 2 can never be mistaken for replies).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

# Autograd imports this on the first backward given a gradient (every gradient check): imported
# here, once in the template, so that no worker pays for it (about a second) or needs memory for
# it after the submission's code ran (which may have used up its memory).
import torch.fx.experimental.symbolic_shapes

from deepgrade.sandbox.precision import exact_float32
from deepgrade.sandbox.wire import SympyTree, decode, encode, read_message, write_message
from deepgrade.sandbox.worker import detector
from deepgrade.sandbox.worker.detector import armed, guard_backward, install, tampering, watching
from deepgrade.sandbox.worker.drivers import DRIVERS
from deepgrade.sandbox.worker.equivalents import Forbidden

REQUEST_FD = 3
REPLY_FD = 4
_REQUEST_LIMIT = 1 << 30
_COLLECT_LIMIT = 100_000
_MAX_TYPE_NAME = 200
_OWN_FILES = (__file__, detector.__file__)


class _CappedText(io.TextIOBase):
    """A text sink that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self) -> str:
        joined = "".join(self.parts)
        if self.dropped:
            joined += f"\n[... {self.dropped} more characters of output not shown]"
        return joined


def _check_backward(cls: type) -> None:
    """Make ``cls.backward``'s gradients checked against its inputs during graded calls (the
    detector's own wrapper, ``guard_backward``, watches what it calls)."""
    original = cls.__dict__.get("backward")
    function = original.__func__ if isinstance(original, staticmethod) else original
    if function is None or getattr(function, "_deepgrade_checked", False):
        return
    name = f"{type.__dict__['__name__'].__get__(cls)}.backward"

    def backward(ctx: Any, *grads: Any) -> Any:
        returned = function(ctx, *grads)
        if armed():
            _check_gradients(ctx, returned, name)
        return returned

    # Marked as both wrappers: neither wraps it again.
    backward._deepgrade_checked = True  # type: ignore[attr-defined]
    backward._deepgrade_guarded = True  # type: ignore[attr-defined]
    cls.backward = staticmethod(backward)  # type: ignore[attr-defined]
    _record_inputs(cls)


def _record_inputs(cls: type) -> None:
    """Make ``cls.forward`` note its inputs' shapes, dtypes and devices on ``ctx``, which
    ``_check_gradients`` holds the backward's gradients to (a forward that takes no ``ctx``,
    with its own ``setup_context``, goes unchecked)."""
    original = cls.__dict__.get("forward")
    function = original.__func__ if isinstance(original, staticmethod) else original
    if function is None or "setup_context" in cls.__dict__:
        return

    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        ctx._deepgrade_inputs = [
            (list(a.shape), a.dtype, a.device) if isinstance(a, torch.Tensor) else None
            for a in args
        ]
        return function(ctx, *args, **kwargs)

    cls.forward = staticmethod(forward)  # type: ignore[attr-defined]


class GradientMismatch(RuntimeError):
    """A backward returned a gradient that cannot belong to its input; the message is data
    (see ``gradients.explain_gradient_mismatch``), from which the grader words the failure."""


def _check_gradients(ctx: Any, returned: Any, function: str) -> None:
    """Compare what a backward returned with its inputs' shapes, dtypes and devices.

    Autograd would raise its own error for a shape or device (and silently cast a dtype), which
    reads as a crash; this says precisely what is wrong, as a forward's comparison does. Only
    the inputs that need a gradient are checked: autograd drops the others.
    """
    grads = returned if isinstance(returned, tuple) else (returned,)
    inputs = getattr(ctx, "_deepgrade_inputs", None)
    needs = getattr(ctx, "needs_input_grad", None)
    if not isinstance(inputs, list) or not isinstance(needs, tuple) or len(grads) != len(inputs):
        return
    for index, (grad, wanted, needed) in enumerate(zip(grads, inputs, needs, strict=False)):
        if not needed or wanted is None or not isinstance(grad, torch.Tensor):
            continue
        expected, dtype, device = wanted
        shape = list(grad.shape)
        # Autograd sums a gradient down to its input's shape when it can: so may the student.
        expandable = len(expected) <= len(shape) and all(
            w in (1, g) for w, g in zip(reversed(expected), reversed(shape), strict=False)
        )
        if expandable and grad.dtype == dtype and grad.device == device:
            continue
        report = {
            "function": function,
            "input": index + 1,
            "got": [shape, str(grad.dtype), str(grad.device)],
            "expected": [expected, str(dtype), str(device)],
        }
        raise GradientMismatch(json.dumps(report))


class Worker:
    """The state of one submission: its namespace and what its cells printed."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.output_limit = 4000
        self.result_limit = _REQUEST_LIMIT

    @contextlib.contextmanager
    def _captured(self) -> Iterator[_CappedText]:
        sink = _CappedText(self.output_limit)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = sink
        try:
            yield sink
        finally:
            sys.stdout, sys.stderr = saved

    def handle(self, header: dict[str, Any], tensors: list[torch.Tensor]) -> tuple[Any, list[Any]]:
        op = header.get("op")
        if op == "configure":
            self.output_limit = int(header["output_limit"])
            self.result_limit = int(header["result_limit"])
            self.namespace["__name__"] = str(header.get("module_name", "__main__"))
            module_file = header.get("module_file")
            if module_file:
                # A module knows its file, as any imported module does: students read data
                # next to it (Path(__file__).parent / "data.csv"). The worker's working folder
                # stands for the file's, so that this and a relative path lead to one place.
                self.namespace["__file__"] = str(Path.cwd() / str(module_file))
            torch.set_num_threads(int(header.get("threads", 1)))
            return {"ok": True}, []
        if op == "exec":
            return self._exec(header["source"], header["filename"]), []
        if op == "names":
            return {"ok": True, "names": self._describe(header["names"])}, []
        if op == "call":
            return self._call(header, tensors)
        if op == "drive":
            return self._drive(header, tensors)
        return {"ok": False, "error": {"type": "ProtocolError", "message": f"bad op {op!r}"}}, []

    def _exec(self, source: str, filename: str) -> dict[str, Any]:
        with self._captured() as sink:
            try:
                code = compile(source, filename, "exec")
                exec(code, self.namespace)
            except BaseException as exc:
                return {"ok": False, "error": _describe_error(exc), "output": sink.text()}
        return {"ok": True, "output": sink.text()}

    def _describe(self, names: list[str]) -> dict[str, str]:
        found = {}
        for name in names:
            if name in self.namespace:
                value = self.namespace[name]
                found[name] = "class" if isinstance(value, type) else _type_name(value)
        return found

    def _resolve(self, target: str) -> Any:
        obj: Any = self.namespace[target.split(".")[0]]
        for part in target.split(".")[1:]:
            obj = getattr(obj, part)
        return obj

    def _call(self, header: dict[str, Any], tensors: list[torch.Tensor]) -> tuple[Any, list[Any]]:
        device = _device(header)
        args = [_to_device(decode(a, tensors), device) for a in header["args"]]
        kwargs = {k: _to_device(decode(v, tensors), device) for k, v in header["kwargs"].items()}
        grad_of: list[int] = header.get("grad_of", [])
        grad_output = decode(header.get("grad_output"), tensors)
        for index in grad_of:
            args[index] = args[index].detach().requires_grad_(True)

        def action() -> tuple[Any, list[Any]]:
            result = self._resolve(header["target"])(*args, **kwargs)
            if header.get("collect"):
                # Generators (minibatches) are graded on what they yield.
                result = list(itertools.islice(iter(result), _COLLECT_LIMIT))
            if header.get("return_args"):
                # The arguments as the call left them: the grader checks they were not modified.
                return result, list(args)
            if grad_output is None:
                return result, []
            inputs = [args[i] for i in grad_of]
            if header.get("detached_ok") and not _has_graph(result, grad_output):
                # The grader judges the value first; no gradient is then a wrong answer.
                return result, [None for _ in inputs]
            return result, _backward(result, _to_device(grad_output, device), inputs)

        return self._run_student(header, action)

    def _drive(self, header: dict[str, Any], tensors: list[torch.Tensor]) -> tuple[Any, list[Any]]:
        device = _device(header)
        driver = DRIVERS[header["driver"]]
        # Drivers that build tensors themselves (a module's parameters) need the device too.
        payload = _to_device(decode(header["payload"], tensors), device) | {"device": str(device)}

        def action() -> tuple[Any, list[Any]]:
            return driver(self._resolve(header["target"]), payload), []

        return self._run_student(header, action)

    def _run_student(
        self, header: dict[str, Any], action: Callable[[], tuple[Any, list[Any]]]
    ) -> tuple[Any, list[Any]]:
        """Run ``action`` watched for forbidden calls, with output captured; encode what it
        returns. Every reply says what the detector saw, tampering included."""
        for value in self.namespace.values():
            if isinstance(value, type) and issubclass(value, torch.autograd.Function):
                guard_backward(value)
                _check_backward(value)
        forbidden = Forbidden.from_wire(header.get("forbidden"))
        reply, out_tensors = self._watched(forbidden, action)
        return reply | {"detector": {"tampering": tampering()}}, out_tensors

    def _watched(
        self, forbidden: Forbidden, action: Callable[[], tuple[Any, list[Any]]]
    ) -> tuple[dict[str, Any], list[Any]]:
        out_tensors: list[torch.Tensor] = []
        with self._captured() as sink:
            used: list[str] = []
            try:
                with watching(forbidden, self.namespace) as detector:
                    used = detector.used
                    result, grads = action()
            except BaseException as exc:
                error = _describe_error(exc)
                return {
                    "ok": False,
                    "error": error,
                    "output": sink.text(),
                    "forbidden_used": used,
                }, []
            try:
                value = encode(result, out_tensors)
                encoded_grads = [encode(g, out_tensors) for g in grads]
            except BaseException as exc:
                return {"ok": False, "error": _describe_error(exc), "output": sink.text()}, []
        size = sum(t.numel() * t.element_size() for t in out_tensors)
        if size > self.result_limit:
            # Refusing here is quicker than sending; the grader enforces the limit anyway.
            message = f"the result is {size} bytes, over the {self.result_limit}-byte limit"
            error = {"type": "ResultTooLarge", "message": message}
            return {"ok": False, "error": error, "output": sink.text()}, []
        reply = {
            "ok": True,
            "value": value,
            "grads": encoded_grads,
            "forbidden_used": used,
            "output": sink.text(),
        }
        return reply, out_tensors


def _type_name(value: Any) -> str:
    # Read past the class's metaclass: a ``__name__`` property there would be student code.
    # Cut, as every text of a reply is: the grader refuses longer ones (see replies.py).
    return str(type.__dict__["__name__"].__get__(type(value)))[:_MAX_TYPE_NAME]


def _device(header: dict[str, Any]) -> torch.device:
    """The device the grader asks for; on CUDA, with float32 kept exact as in the grader.

    Set before every call, not once: a cell may have switched TF32 back on.
    """
    device = torch.device(header.get("device", "cpu"))
    if device.type == "cuda":
        exact_float32()
    return device


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, SympyTree):
        import sympy

        return sympy.Symbol(str(value.tree["symbol"]), real=True)
    if isinstance(value, list | tuple):
        return type(value)(_to_device(item, device) for item in value)
    if isinstance(value, dict):
        return {key: _to_device(item, device) for key, item in value.items()}
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _results(result: Any, grad_output: Any) -> tuple[Any, ...]:
    """The results that receive a grad_output: a function of several results (attention's
    output and weights) receives one for each, as a tuple, and is differentiated through all."""
    several = isinstance(grad_output, tuple) and isinstance(result, tuple | list)
    return tuple(result) if several else (result,)


def _has_graph(result: Any, grad_output: Any) -> bool:
    return all(
        isinstance(t, torch.Tensor) and t.requires_grad for t in _results(result, grad_output)
    )


def _backward(result: Any, grad_output: Any, inputs: list[torch.Tensor]) -> list[Any]:
    outputs = _results(result, grad_output)
    grad_outputs = grad_output if isinstance(grad_output, tuple) else (grad_output,)
    if len(outputs) != len(grad_outputs) or not all(isinstance(t, torch.Tensor) for t in outputs):
        raise TypeError(f"returned {type(result).__name__}, so no gradient can flow back")
    if not all(t.requires_grad for t in outputs):
        raise RuntimeError("the output is not connected to the input's graph (no grad_fn)")
    torch.autograd.backward(outputs, grad_outputs)
    return [t.grad for t in inputs]


def _describe_error(exc: BaseException) -> dict[str, Any]:
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # Drop the worker's own frames (and its detector's): the student needs to see their code.
    text = "".join(line for line in frames if not any(f in line for f in _OWN_FILES))
    return {"type": _type_name(exc), "message": str(exc)[:2000], "traceback": text[-4000:]}


def main() -> None:
    install()
    worker = Worker()
    write_message(REPLY_FD, {"ok": True, "ready": True}, [])
    while True:
        try:
            header, tensors = read_message(REQUEST_FD, _REQUEST_LIMIT)
        except EOFError:
            return
        reply, out = worker.handle(header, tensors)
        try:
            write_message(REPLY_FD, reply, out)
        except Exception as exc:  # an output that cannot be sent is the student's problem
            message = f"could not send the result: {str(exc)[:1000]}"
            error = {"type": _type_name(exc), "message": message}
            write_message(REPLY_FD, {"ok": False, "error": error}, [])


if __name__ == "__main__":
    main()
