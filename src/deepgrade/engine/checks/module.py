"""Modules: equivalence with a reference model, and the statistics of the initialisation.

Equivalence: the student's module and a grader-side reference are constructed with the same
arguments, their parameter lists must agree in count, order and shape, and then both receive
the same parameter values; outputs, input gradients and parameter gradients must then agree.
Modules whose output depends on a mode and on what they saw (batch normalisation's running
statistics) run ``warmup`` training batches first and are probed in ``mode``; named buffers
are compared too. A module whose output is random (dropout) has no reference output: a
grader-side ``judge`` decides instead.
A forward may take several arguments (``inputs``, a builder's ``(args, kwargs)``; a tuple of
tensors among the args, an LSTM cell's ``(h, c)``, is differentiated too) and return a tuple
of tensors; a student function that drives a module (``given``) is graded the same way on a
PyTorch module.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CheckContext, call_with
from deepgrade.engine.checks.inputs import DTYPES, DTypeName, TensorSpec, both_dtypes
from deepgrade.engine.comparison import Tolerance, compare, compare_tree
from deepgrade.sandbox.worker.drivers import buffers_of, module_arguments, module_probe, settle

InitArgument = int | float | bool | str


class _Constructed(CheckSpec):
    """Fields of the checks that construct the student's module."""

    call: str = Field(description="The student's module class.")
    init_args: list[InitArgument] = Field(default_factory=list)
    init_kwargs: dict[str, InitArgument] = Field(default_factory=dict)
    seed: int = 0

    def constructor(self) -> str:
        parts = [repr(a) for a in self.init_args]
        parts += [f"{k}={v!r}" for k, v in self.init_kwargs.items()]
        return f"{self.call}({', '.join(parts)})"

    def payload(self, dtype_name: str, **extra: Any) -> dict[str, Any]:
        return {
            "init_args": list(self.init_args),
            "init_kwargs": dict(self.init_kwargs),
            "seed": self.seed,
            "dtype": dtype_name,
        } | extra


@register_check
class ModuleCheck(_Constructed):
    """The student's module computes what a reference module with the same parameters does."""

    kind: Literal["module"] = "module"
    reference: str = Field(description="lab:<builder> taking the same constructor arguments.")
    input: TensorSpec = Field(default_factory=TensorSpec)
    inputs: str | None = Field(
        None,
        description="A grader-side builder (lab:<name>) called with a seeded generator and the "
        "dtype, returning the (args, kwargs) of the method; replaces ``input`` for methods that "
        "take several tensors (attention's query, key, value and mask; a tuple of tensors among "
        "the args is passed as a tuple: an LSTM cell's (h, c)). The gradients of every "
        "floating-point tensor argument, a tuple's too, are compared.",
    )
    given: str | None = Field(
        None,
        description="A torch.nn class (RNNCell) built in the worker and loaded like a module; "
        "``call`` is then a student function called as call(module, *args, **kwargs), and the "
        "reference builder gives the module that computes what the function should.",
    )
    method: str = "forward"
    backward: bool = True
    attributes: list[str] = Field(
        default_factory=list,
        description="Plain tensor attributes to set instead of loading parameters.",
    )
    parameter_names: list[str] = Field(
        default_factory=list, description="Names that named_parameters() must include."
    )
    values: Literal["random", "reference"] = Field(
        "random",
        description="Load seeded random values into both modules, or the reference builder's "
        "own values into the student's (inputs that must hit a boundary exactly).",
    )
    dtypes: list[DTypeName] = Field(default_factory=both_dtypes)
    mode: Literal["train", "eval"] | None = Field(
        None, description="The mode of the probed call (default: as constructed, training)."
    )
    warmup: int = Field(
        0,
        ge=0,
        description="Forward passes in training mode on seeded inputs of the input's shape "
        "before the probed call, where running statistics are learnt.",
    )
    buffers: list[str] = Field(
        default_factory=list, description="Named buffers compared after the probed call."
    )
    judge: str | None = Field(
        None,
        description="lab:<name> deciding a random output instead of the reference's output and "
        "gradients: judge({'output', 'input_grad'}, [input, grad_output], init_kwargs) returns "
        "None or the reason.",
    )

    def run(self, ctx: CheckContext) -> CheckOutcome:
        for dtype_name in self.dtypes:
            settling = self._settling()
            call: dict[str, Any] = {"input": self.input.model_dump()}
            if self.inputs is not None:
                # Seeded apart from the parameter values, which the reference side draws.
                generator = torch.Generator().manual_seed(self.seed + 1)
                args, kwargs = ctx.run_reference(
                    self.inputs, call_with, ([generator, DTYPES[dtype_name]], {})
                )
                call = {"args": list(args), "kwargs": dict(kwargs)}
            side = ctx.run_reference(
                self.reference,
                _reference_module,
                self.payload(
                    dtype_name,
                    **call,
                    method=self.method,
                    backward=self.backward,
                    attributes=self.attributes,
                    values=self.values,
                    **settling,
                ),
            )
            extra: dict[str, Any] = {"method": self.method} | settling
            if self.inputs is None:
                extra["input"] = side["input"]
            else:
                extra |= {"args": call["args"], "kwargs": call["kwargs"]}
            if self.warmup:
                extra["warmup"] = side["warmup"]
            if self.given:
                extra["given"] = self.given
            if self.attributes:
                extra["attributes"] = dict(zip(self.attributes, side["values"], strict=True))
            else:
                extra["load"] = side["values"]
            if self.backward:
                extra["grad_output"] = side["grad_output"]
            got = ctx.drive(module_probe, self.call, self.payload(dtype_name, **extra))
            if self.judge is not None and isinstance(got, dict) and "output" in got:
                problem = ctx.resolve(self.judge)(
                    {"output": got["output"], "input_grad": (got.get("input_grads") or [None])[0]},
                    [side["input"], side["grad_output"]],
                    dict(self.init_kwargs),
                )
            else:
                problem = self._compare(got, side, self.tolerance(DTYPES[dtype_name], ctx.device))
            if problem:
                return self.failed(f"{self.constructor()} in {dtype_name}: {problem}")
        return CheckOutcome(True)

    def _settling(self) -> dict[str, Any]:
        """The payload's fields for the mode, the warm-up and the buffers (none by default,
        so that the other checks' payloads, and their recordings, stay as they were)."""
        settling: dict[str, Any] = {}
        if self.mode is not None:
            settling["mode"] = self.mode
        if self.warmup:
            settling["warmup_count"] = self.warmup
        if self.buffers:
            settling["buffers"] = list(self.buffers)
        return settling

    def _compare(self, got: Any, side: dict[str, Any], tolerance: Tolerance) -> str | None:
        if not isinstance(got, dict):
            return "the module could not be probed."
        names, shapes = got.get("names", []), got.get("shapes", [])
        missing = [n for n in self.parameter_names if n not in names]
        if missing:
            return f"named_parameters() lacks {', '.join(missing)} (it has {names or 'none'})."
        if not self.attributes:
            expected_shapes = [list(t.shape) for t in side["values"]]
            if shapes != expected_shapes:
                return (
                    f"parameters() yields {len(shapes)} tensors of shapes {shapes}; expected "
                    f"{len(expected_shapes)} of shapes {expected_shapes}, in that order."
                )
        verdict = compare_tree(side["expected"], got.get("output"), tolerance, what="the output")
        if not verdict.ok:
            return f"with the same parameter values as the reference, {verdict.message}"
        labels = side.get("input_labels") or (
            ["the input"]
            if side["input_count"] == 1
            else [f"argument {i + 1}" for i in range(side["input_count"])]
        )
        inputs = len(labels)
        got_inputs = got.get("input_grads") or []
        got_inputs = list(got_inputs)[:inputs] + [None] * (inputs - len(got_inputs))
        student_names = [*labels, *names]
        got_grads = [*got_inputs, *(got.get("parameter_grads") or [])]
        for wanted_grad, label, got_grad in zip(
            side["grads"], student_names, got_grads, strict=False
        ):
            if wanted_grad is None:
                continue
            verdict = compare(wanted_grad, got_grad, tolerance, what=f"the gradient of {label}")
            if not verdict.ok:
                return f"after backward with a random grad_output, {verdict.message}"
        got_buffers = got.get("buffers") or {}
        for name, wanted_buffer in side.get("buffers", {}).items():
            if name not in got_buffers:
                return f"it has no buffer named {name!r} (register it with register_buffer)."
            verdict = compare(wanted_buffer, got_buffers[name], tolerance, what=name)
            if not verdict.ok:
                return (
                    f"after {self.warmup} training batches and the probed call, {verdict.message}"
                )
        return None


def _reference_module(build: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The reference module built and loaded with seeded values, run forward and backward.

    Returns what the student's module receives (``values``, ``input``, ``grad_output``) and what
    it must give back (``expected``, and ``grads``: the input's, then the parameters').
    """
    dtype = DTYPES[payload["dtype"]]
    attributes = payload["attributes"]
    reference = build(*payload["init_args"], **payload["init_kwargs"]).to(dtype=dtype)
    generator = torch.Generator().manual_seed(payload["seed"])
    if attributes:
        wanted = {name: getattr(reference, name) for name in attributes}
    else:
        wanted = dict(reference.named_parameters())
    if payload["values"] == "reference":
        values = [t.detach().to(dtype).clone() for t in wanted.values()]
    else:
        values = [
            (0.5 * torch.randn(t.shape, generator=generator, dtype=torch.float64)).to(dtype)
            for t in wanted.values()
        ]
    with torch.no_grad():
        for name, value in zip(list(wanted), values, strict=True):
            if attributes:
                setattr(reference, name, value.clone())
            else:
                wanted[name].copy_(value)
    if "args" in payload:
        spec, x = None, None
        args, kwargs = list(payload["args"]), payload["kwargs"]
    else:
        spec = TensorSpec.model_validate(payload["input"])
        x = spec.make(generator, dtype)
        args, kwargs = [x], {}
    side: dict[str, Any] = {
        "values": values,
        "input": x,
        "input_count": len(args),
        "grad_output": None,
        "grads": [],
    }
    if any(isinstance(a, tuple) for a in args):
        # A tuple's tensors are differentiated and compared one by one.
        side["input_labels"] = _argument_labels(args)
    if spec is not None and payload.get("warmup_count"):
        side["warmup"] = [spec.make(generator, dtype) for _ in range(payload["warmup_count"])]
    settle(reference, {"warmup": side.get("warmup", [])} | payload)
    differentiable, leaves = module_arguments(
        args, lambda a: a.clone().requires_grad_(payload["backward"])
    )
    expected = getattr(reference, payload["method"])(*differentiable, **kwargs)
    if payload["backward"]:
        # One random grad_output per output tensor, in order (a tuple's too).
        outputs = list(expected) if isinstance(expected, tuple | list) else [expected]
        grad_outputs = [
            torch.randn(o.shape, generator=generator, dtype=torch.float64).to(dtype)
            for o in outputs
        ]
        torch.autograd.backward(outputs, grad_outputs)
        side["grad_output"] = (
            grad_outputs if isinstance(expected, tuple | list) else grad_outputs[0]
        )
        input_grads = [None if leaf is None else leaf.grad for leaf in leaves]
        side["grads"] = input_grads + ([] if attributes else [t.grad for t in wanted.values()])
    if payload.get("buffers"):
        side["buffers"] = buffers_of(reference, payload["buffers"])
    return side | {"expected": _detached(expected)}


def _argument_labels(args: list[Any]) -> list[str]:
    """What the gradients of ``args`` are called in messages, a tuple's tensors one by one."""
    labels: list[str] = []
    for i, arg in enumerate(args):
        if isinstance(arg, tuple):
            labels += [f"item {j + 1} of argument {i + 1}" for j in range(len(arg))]
        else:
            labels.append(f"argument {i + 1}")
    return labels


def _detached(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return tuple(v.detach() for v in value)
    return value.detach()


@register_check
class InitDistributionCheck(_Constructed):
    """Freshly initialised parameters are uniform on [-bound, bound].

    The test is the Dvoretzky-Kiefer-Wolfowitz bound on the distance between the empirical and
    the uniform distribution function: for a correct initialisation it fails with probability
    at most ``false_failure_rate``, whatever the seed.
    """

    kind: Literal["init_distribution"] = "init_distribution"
    bounds: dict[str, float] = Field(description="Parameter name -> bound of its uniform law.")
    false_failure_rate: float = Field(1e-7, gt=0, lt=1)

    def run(self, ctx: CheckContext) -> CheckOutcome:
        got = ctx.drive(module_probe, self.call, self.payload("float64", return_parameters=True))
        if not isinstance(got, dict):
            return self.failed(f"{self.constructor()} could not be probed.", explained=False)
        values = dict(zip(got.get("names", []), got.get("parameters", []), strict=False))
        for name, bound in self.bounds.items():
            if name not in values:
                return self.failed(f"{self.constructor()} has no parameter named {name!r}.")
            problem = self._uniform_problem(values[name], bound)
            if problem:
                return self.failed(f"{self.constructor()}.{name} at initialisation: {problem}")
        return CheckOutcome(True)

    def _uniform_problem(self, tensor: Any, bound: float) -> str | None:
        if not isinstance(tensor, torch.Tensor) or tensor.numel() == 0:
            return "it is not a non-empty tensor."
        sample = tensor.detach().to(torch.float64).reshape(-1).sort().values
        n = sample.numel()
        undefined = int((~torch.isfinite(sample)).sum())
        if undefined:
            # NaN compares false with every bound: the distribution test below would pass it.
            return f"{undefined} of {n} values are NaN or infinite."
        mean, std = float(sample.mean()), float(sample.std()) if n > 1 else 0.0
        summary = (
            f"mean {mean:.4g}, std {std:.4g}, range [{float(sample[0]):.4g}, "
            f"{float(sample[-1]):.4g}]; expected U(-{bound:g}, {bound:g}): mean 0, "
            f"std {bound / math.sqrt(3):.4g}"
        )
        outside = int((sample.abs() > bound * (1 + 1e-6)).sum())
        if outside:
            return f"{outside} of {n} values lie outside [-{bound:g}, {bound:g}] ({summary})."
        uniform_cdf = ((sample + bound) / (2 * bound)).clamp(0, 1)
        ranks = torch.arange(1, n + 1, dtype=torch.float64)
        distance = float(
            torch.maximum(ranks / n - uniform_cdf, uniform_cdf - (ranks - 1) / n).max()
        )
        limit = math.sqrt(math.log(2 / self.false_failure_rate) / (2 * n))
        if distance > limit:
            return (
                f"the values do not look uniform (largest gap between the empirical and the "
                f"uniform distribution function {distance:.3g}, limit {limit:.3g}; {summary})."
            )
        return None
