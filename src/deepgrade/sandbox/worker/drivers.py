"""Drivers: fixed harnesses that exercise a student's class or function inside the worker.

Some exercises cannot be graded by calling one function on tensors: a ``Value`` graph has to be
built, a module constructed and loaded, an optimiser stepped, a training loop run on a model.
A driver does that work next to the student's code and returns plain data (numbers, tensors,
lists) for the grader to judge. Drivers hold no reference and no verdict, and the grader runs
the very same harness on its reference, so both sides are measured the same way.

Imported by the worker, so torch is the only dependency.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

# -- Value programs ---------------------------------------------------------------------------
# A program is a list of instructions; instruction k defines node k. Operands are node indices,
# constants are plain numbers. The same interpreter runs the student's Value (in the worker)
# and float64 torch scalars (in the grader), since both support Python's operators.
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}
WITH_CONSTANT = {
    "addc": lambda a, c: a + c,
    "subc": lambda a, c: a - c,
    "mulc": lambda a, c: a * c,
    "divc": lambda a, c: a / c,
    "pow": lambda a, c: a**c,
    "radd": lambda a, c: c + a,
    "rsub": lambda a, c: c - a,
    "rmul": lambda a, c: c * a,
    "rdiv": lambda a, c: c / a,
}
UNARY = {
    "neg": lambda a: -a,
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
}


def run_program(program: Sequence[Sequence[Any]], leaf: Callable[[float], Any]) -> list[Any]:
    """Evaluate ``program``, making leaves with ``leaf``; returns every node."""
    nodes: list[Any] = []
    for instruction in program:
        op, *operands = instruction
        if op == "leaf":
            nodes.append(leaf(float(operands[0])))
        elif op in BINARY:
            nodes.append(BINARY[op](nodes[operands[0]], nodes[operands[1]]))
        elif op in WITH_CONSTANT:
            nodes.append(WITH_CONSTANT[op](nodes[operands[0]], operands[1]))
        elif op in UNARY:
            nodes.append(UNARY[op](nodes[operands[0]]))
        else:
            raise ValueError(f"unknown instruction {op!r}")
    return nodes


def value_graph(value_class: Any, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Build each program with the student's ``Value``, backpropagate from its last node.

    Returns, per program, the last node's ``data`` and every leaf's ``grad`` (or the error it
    raised: one failing program must not hide what the others show).
    """
    results: list[dict[str, Any]] = []
    for program in payload["programs"]:
        try:
            nodes = run_program(program, value_class)
            out = nodes[-1]
            # A recursive topological sort is a correct engine: a chain of thousands of nodes
            # must not fail it on Python's default limit of 1000 frames.
            with _recursion_limit(_FRAMES_PER_NODE * len(program)):
                out.backward()
            leaves = [n for n, ins in zip(nodes, program, strict=True) if ins[0] == "leaf"]
            grads = [_number(n.grad, "grad") for n in leaves]
            results.append({"data": _number(out.data, "data"), "grads": grads})
        except NotImplementedError:
            raise
        except Exception as exc:
            results.append({"error": f"{type(exc).__name__}: {exc}"[:300]})
    return results


# Frames a recursive backward may take per node (its visit, a helper, an operator's closure).
_FRAMES_PER_NODE = 4


@contextlib.contextmanager
def _recursion_limit(frames: int) -> Iterator[None]:
    """At least ``frames`` more frames of Python recursion while the block runs."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, before + frames))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def _number(value: Any, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, int | float):
        raise TypeError(f".{what} is a {type(value).__name__}, expected a float")
    return float(value)


# -- modules ----------------------------------------------------------------------------------
def module_probe(module_class: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Construct a module, optionally load given parameters, run one forward and backward.

    The forward takes one ``input``, or a builder's ``args`` and ``kwargs`` (a tuple among the
    args, an LSTM cell's ``(h, c)``, has its tensors differentiated too), and may return a
    tuple of tensors. With ``given``, the module is that ``torch.nn`` class and
    ``module_class`` a student function that drives it, called as
    ``module_class(module, *args, **kwargs)`` (Lab 9's ``rnn_forward(cell, x, h0)``), so that the
    function is graded on its own and not through the student's module.
    """
    torch.manual_seed(int(payload.get("seed", 0)))
    given = payload.get("given")
    build = getattr(nn, given) if given else module_class
    module = build(*payload.get("init_args", []), **payload.get("init_kwargs", {}))
    if not isinstance(module, nn.Module):
        raise TypeError(f"{type(module).__name__} is not a torch.nn.Module")
    dtype = getattr(torch, payload.get("dtype", "float32"))
    module = module.to(dtype=dtype, device=payload.get("device", "cpu"))
    named = list(module.named_parameters())
    report: dict[str, Any] = {
        "names": [name for name, _ in named],
        "shapes": [list(p.shape) for _, p in named],
    }
    if payload.get("return_parameters"):
        report["parameters"] = [p.detach().clone() for _, p in named]
    load = payload.get("load")
    if load is not None:
        if [list(t.shape) for t in load] != report["shapes"]:
            return report
        with torch.no_grad():
            for (_, parameter), value in zip(named, load, strict=True):
                parameter.copy_(value)
    for name, value in payload.get("attributes", {}).items():
        setattr(module, name, value)
    # One input, or the positional and keyword arguments of a method that takes several
    # (attention's query, key, value and mask; a tuple among them, an LSTM cell's (h, c)).
    args = payload.get("args")
    if args is None:
        if payload.get("input") is None:
            return report
        args = [payload["input"]]
    settle(module, payload)
    grad_output = payload.get("grad_output")
    leaves: list[torch.Tensor | None] = []
    if grad_output is not None:
        args, leaves = module_arguments(args, _differentiable)
    kwargs = payload.get("kwargs", {})
    if given:
        out = module_class(module, *args, **kwargs)
    else:
        out = getattr(module, payload.get("method", "forward"))(*args, **kwargs)
    report["output"] = out
    if grad_output is not None:
        outputs = list(out) if isinstance(out, tuple | list) else [out]
        grad_outputs = list(grad_output) if isinstance(grad_output, tuple | list) else [grad_output]
        if len(outputs) != len(grad_outputs) or not all(
            isinstance(o, torch.Tensor) and o.shape == g.shape
            for o, g in zip(outputs, grad_outputs, strict=False)
        ):
            return report  # the grader explains the wrong output; backward could only fail
        if not all(o.requires_grad for o in outputs):
            raise RuntimeError("the output is not connected to the parameters (no grad_fn)")
        torch.autograd.backward(outputs, grad_outputs)
        report["input_grads"] = [None if leaf is None else leaf.grad for leaf in leaves]
        report["parameter_grads"] = [p.grad for _, p in named]
    if payload.get("buffers"):
        report["buffers"] = buffers_of(module, payload["buffers"])
    return report


def settle(module: nn.Module, payload: dict[str, Any]) -> None:
    """Before the probed call: forward passes in training mode on ``payload["warmup"]``'s
    inputs (what running statistics learn from), then the mode of ``payload["mode"]``."""
    warmup = payload.get("warmup", [])
    if warmup:
        module.train()
        with torch.no_grad():
            for batch in warmup:
                module(batch)
    if "mode" in payload:
        module.train(payload["mode"] == "train")


def buffers_of(module: nn.Module, names: Sequence[str]) -> dict[str, Any]:
    """The module's buffers of those names, as they stand (absent ones left out)."""
    found = dict(module.named_buffers())
    return {name: found[name].detach().clone() for name in names if name in found}


def module_arguments(
    args: Sequence[Any], leaf: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[list[Any], list[torch.Tensor | None]]:
    """A forward's arguments with each floating-point tensor, a tuple's too (an LSTM cell's
    ``(h, c)``), replaced by ``leaf(tensor)``; and, flat and in order, those leaves (``None``
    for any other argument), whose gradients are compared."""
    leaves: list[torch.Tensor | None] = []

    def one(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            value = leaf(value)
            leaves.append(value)
        else:
            leaves.append(None)
        return value

    return [
        tuple(one(item) for item in arg) if isinstance(arg, tuple) else one(arg) for arg in args
    ], leaves


def _differentiable(value: torch.Tensor) -> torch.Tensor:
    """A floating-point tensor argument as a fresh leaf that records its gradient."""
    return value.detach().requires_grad_(True)


# -- optimisers -------------------------------------------------------------------------------
def optimizer_run(optimizer_class: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Step an optimiser with prescribed gradients; record the parameters after every step.

    With ``reuse_grad`` each step's gradients are copied into the ``.grad`` tensors already
    there, as backward() accumulates into them after ``zero_grad(set_to_none=False)``.
    """
    params = [p.detach().clone().requires_grad_(True) for p in payload["params"]]
    optimizer = optimizer_class(params, **payload.get("kwargs", {}))
    lrs = payload.get("lrs") or []
    reuse = bool(payload.get("reuse_grad"))
    trajectory = []
    for step, grads in enumerate(payload["grads"]):
        if step < len(lrs):
            set_lr(optimizer, float(lrs[step]))
        for parameter, grad in zip(params, grads, strict=True):
            if grad is not None and reuse and parameter.grad is not None:
                parameter.grad.copy_(grad)
            else:
                parameter.grad = None if grad is None else grad.clone()
        optimizer.step()
        trajectory.append([p.detach().clone() for p in params])
    if not payload.get("zero_grad", True):
        return {"trajectory": trajectory}
    optimizer.zero_grad()
    cleared = [p.grad is None or not bool(p.grad.any()) for p in params]
    return {"trajectory": trajectory, "cleared": cleared}


def set_lr(optimizer: Any, lr: float) -> None:
    """What a learning-rate schedule does between steps: torch.optim keeps the rate in its
    param groups, the course's optimisers in their ``lr`` attribute (read at every step)."""
    if isinstance(optimizer, torch.optim.Optimizer):
        for group in optimizer.param_groups:
            group["lr"] = lr
    else:
        optimizer.lr = lr


def gradient_run(function: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Call a function on parameters that hold gradients (``clip_grad_norm(params, 1.0)``),
    handed over as a generator as ``model.parameters()`` is; return its result and the
    gradients as it left them."""
    params = [p.detach().clone().requires_grad_(True) for p in payload["params"]]
    for parameter, grad in zip(params, payload["grads"], strict=True):
        parameter.grad = None if grad is None else grad.clone()
    value = function((p for p in params), **payload.get("kwargs", {}))
    return {"value": value, "grads": [p.grad for p in params]}


# -- training loops ---------------------------------------------------------------------------
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}
_LOSSES: dict[str, type[nn.Module]] = {
    "mse": nn.MSELoss,
    "cross_entropy": nn.CrossEntropyLoss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
}
_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "SGD": torch.optim.SGD,
    "Adam": torch.optim.Adam,
}


def build_mlp(sizes: Sequence[int], activation: str, state: Sequence[torch.Tensor]) -> nn.Module:
    """A PyTorch MLP with the given layer sizes, loaded with ``state`` (its parameters)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(_ACTIVATIONS[activation]())
        layers.append(nn.Linear(fan_in, fan_out))
    model = nn.Sequential(*layers).to(dtype=state[0].dtype, device=state[0].device)
    with torch.no_grad():
        for parameter, value in zip(model.parameters(), state, strict=True):
            parameter.copy_(value)
    return model


class _Recorder:
    """Watches a model and its optimiser: parameters after each step, and each forward's mode."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.steps: list[list[torch.Tensor]] = []
        self.modes: list[list[bool]] = []
        step = optimizer.step

        def recorded_step(*args: Any, **kwargs: Any) -> Any:
            result = step(*args, **kwargs)
            self.steps.append([p.detach().clone() for p in model.parameters()])
            return result

        optimizer.step = recorded_step  # type: ignore[method-assign]
        model.register_forward_hook(self._forward)

    def _forward(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self.modes.append([module.training, torch.is_grad_enabled()])


def run_loop(function: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Call a training-loop function on a fresh model, loss and optimiser described by data.

    ``payload["arguments"]`` names what to pass, in order: ``model``, ``loss_fn`` and
    ``optimizer`` are built here, any other name is looked up in ``payload["data"]``. With
    ``start_in_eval`` the model is handed over in eval mode, so a loop that must train has to
    switch it back itself. With ``replay`` (what ``observe_loop`` recorded), the functions it
    names are replaced during the call by replays of those records (see ``_replayer``).
    """
    model, recorder, arguments = _loop_pieces(payload)
    replay = payload.get("replay") or {}
    namespace = getattr(function, "__globals__", None)
    kept = {name: namespace[name] for name in replay if name in namespace} if namespace else {}
    if namespace is not None:
        pieces = _piece_names(payload["arguments"], arguments)
        for name, records in replay.items():
            namespace[name] = _replayer(name, list(records), model, recorder, pieces)
    try:
        value = function(*arguments)
    finally:
        if namespace is not None:
            for name in replay:
                namespace.pop(name, None)
            namespace.update(kept)
    return {
        "value": value,
        "steps": recorder.steps,
        "final": [p.detach().clone() for p in model.parameters()],
        "modes": recorder.modes,
    }


def observe_loop(observer: Any, payload: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Run a grader-side ``observer(record, *arguments)`` on the pieces ``run_loop`` builds.

    The observer calls the reference versions of the functions a loop under test calls, and
    reports each result with ``record(name, value, *arguments)``; each record keeps the value,
    the parameters after the call, the optimiser steps it made and which of the loop's pieces
    it was called with, in order, for ``_replayer``.
    """
    model, recorder, arguments = _loop_pieces(payload)
    pieces = _piece_names(payload["arguments"], arguments)
    records: dict[str, list[dict[str, Any]]] = {}

    def record(name: str, value: Any, *called_with: Any) -> None:
        steps, recorder.steps = recorder.steps, []
        state = [p.detach().clone() for p in model.parameters()]
        used = [pieces.get(id(argument)) for argument in called_with]
        records.setdefault(name, []).append(
            {"value": value, "state": state, "steps": steps, "arguments": used}
        )

    observer(record, *arguments)
    return records


def _piece_names(names: Sequence[str], arguments: Sequence[Any]) -> dict[int, str]:
    """The loop's pieces by identity (``model``, ``val``...): numbers and strings are left
    out, since equal small ones can be one object."""
    return {
        id(argument): name
        for name, argument in zip(names, arguments, strict=True)
        if not isinstance(argument, int | float | str)
    }


def _replayer(
    name: str,
    records: list[dict[str, Any]],
    model: nn.Module,
    recorder: _Recorder,
    pieces: dict[int, str],
) -> Callable[..., Any]:
    """A stand-in for ``name``: each call replays the next record (the parameters it left,
    the optimiser steps it made, the value it returned). A call that passes another of the
    loop's pieces in a position than the reference did (``evaluate(val, model, ...)``, or
    ``train`` for ``val``) fails as the real function would; keyword arguments and objects
    that are not the loop's own pieces are not judged."""
    calls = len(records)

    def replay(*args: Any, **kwargs: Any) -> Any:
        if not records:
            raise RuntimeError(f"{name} was called more than the {calls} times foreseen")
        record = records.pop(0)
        for position, (wanted, argument) in enumerate(
            zip(record.get("arguments") or [], args, strict=False), start=1
        ):
            given = pieces.get(id(argument))
            if wanted is not None and given is not None and given != wanted:
                raise TypeError(
                    f"{name} was given {given} as its argument {position}, where it takes "
                    f"{wanted}: check the order and choice of its arguments"
                )
        with torch.no_grad():
            for parameter, value in zip(model.parameters(), record["state"], strict=True):
                parameter.copy_(value)
        recorder.steps.extend(record["steps"])
        return record["value"]

    return replay


def _loop_pieces(payload: dict[str, Any]) -> tuple[nn.Module, _Recorder, list[Any]]:
    """The model, its recorder and the arguments a loop is called with (see ``run_loop``)."""
    spec = payload["model"]
    model = build_mlp(spec["sizes"], spec["activation"], spec["state"])
    model.train(not payload.get("start_in_eval", False))
    loss_fn = _LOSSES[payload["loss"]]()
    settings = dict(payload["optimizer"])
    optimizer = _OPTIMIZERS[settings.pop("name")](model.parameters(), **settings)
    recorder = _Recorder(model, optimizer)
    pieces = {"model": model, "loss_fn": loss_fn, "optimizer": optimizer}
    data = payload.get("data", {})
    arguments = [pieces[name] if name in pieces else data[name] for name in payload["arguments"]]
    return model, recorder, arguments


# -- outcome tasks ----------------------------------------------------------------------------
def outcome(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Train with the student's task function, then predict the grader's test inputs."""
    result = task(*payload["train"])
    if not isinstance(result, tuple | list) or len(result) != 2:
        name = getattr(task, "__name__", "the task")
        got = type(result).__name__
        if isinstance(result, tuple | list):
            got += f" of {len(result)} items"
        raise TypeError(f"{name} returned a {got}; it must return a pair (model, history)")
    model, history = result
    if not callable(model):
        raise TypeError(f"the model is a {type(model).__name__}, not a callable module")
    if isinstance(model, nn.Module):
        model.eval()
    with torch.no_grad():
        predictions = model(payload["test_inputs"])
    return {"predictions": predictions, "history": _plain_history(history)}


def _plain_history(history: Any) -> Any:
    """Loss histories as plain data: one-element tensors become floats."""
    if isinstance(history, dict):
        return {str(k): _plain_history(v) for k, v in history.items()}
    if isinstance(history, list | tuple):
        return [_plain_history(v) for v in history]
    if isinstance(history, torch.Tensor) and history.numel() == 1:
        return float(history.item())
    return history


# -- many calls in one request ----------------------------------------------------------------
def evaluate(function: Any, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Call ``function`` on each of ``payload["calls"]``, as that many separate calls would.

    A call with a ``grad_output`` also runs backward from its result and returns the gradients
    of the arguments at ``payload["grad_of"]``; one without returns its result. Evaluation
    stops at the first call that raises, or whose results would take the answer past
    ``payload["result_bytes"]``: the grader then makes that call on its own, so the failure
    reads exactly as it would have (this harness never words a student's error), and a function
    that returns huge tensors is refused after one call rather than many.
    """
    grad_of: list[int] = payload["grad_of"]
    budget = int(payload["result_bytes"])
    results: list[dict[str, Any]] = []
    for call in payload["calls"]:
        # Fresh copies: one call that modifies its inputs must not change the next call's.
        args = _fresh(call["args"])
        kwargs = _fresh(payload["kwargs"])
        grad_output = call.get("grad_output")
        try:
            if grad_output is None:
                answer = {"value": function(*args, **kwargs)}
            else:
                for index in grad_of:
                    args[index] = args[index].detach().requires_grad_(True)
                value = function(*args, **kwargs)
                if not isinstance(value, torch.Tensor):
                    break
                value.backward(grad_output)
                answer = {"grads": [args[index].grad for index in grad_of]}
        except Exception:
            break
        budget -= _tensor_bytes(answer)
        if budget < 0:
            break
        results.append(answer)
    return results


def _tensor_bytes(value: Any) -> int:
    """The bytes of the tensors in ``value`` (a tensor, or lists and dicts of them)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, list | tuple):
        return sum(_tensor_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(_tensor_bytes(item) for item in value.values())
    return 0


def _fresh(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list | tuple):
        return type(value)(_fresh(item) for item in value)
    if isinstance(value, dict):
        return {key: _fresh(item) for key, item in value.items()}
    return value


Driver = Callable[[Any, dict[str, Any]], Any]
# The grader names a driver by its function's name (see CheckContext.drive): one list, no keys.
DRIVERS: dict[str, Driver] = {
    driver.__name__: driver
    for driver in (
        value_graph,
        module_probe,
        optimizer_run,
        gradient_run,
        run_loop,
        outcome,
        evaluate,
    )
}
