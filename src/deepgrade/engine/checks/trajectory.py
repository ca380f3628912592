"""Trajectories: optimisers and training loops must move the weights exactly as the reference.
A function that changes gradients in place (gradient clipping) is graded the same way, on one
call.

Both sides start from the same weights and see the same gradients or batches; the parameters
are recorded after every optimiser step, and the message names the first step and parameter
where they part. The grader runs its reference through the same harness as the student's code
(``_drivers``), so nothing but the code under test differs. Declared ``mistakes`` (a reference
with a known bug, such as a loop without ``zero_grad``) are replayed when the trajectories
differ, and the one that reproduces the student's trajectory supplies the hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CheckContext
from deepgrade.engine.checks.inputs import DTYPES, DTypeName, both_dtypes
from deepgrade.engine.checks.mistakes import Mistake, recognise
from deepgrade.engine.comparison import Tolerance, compare, compare_tree
from deepgrade.sandbox.worker.drivers import (
    Driver,
    gradient_run,
    observe_loop,
    optimizer_run,
    run_loop,
)

Steps = Sequence[Sequence[torch.Tensor]]


def first_divergence(
    expected: Steps, got: Any, names: Sequence[str], tolerance: Tolerance
) -> str | None:
    """Where two recorded trajectories first differ, or ``None`` when they agree."""
    if not isinstance(got, list | tuple):
        return "no parameters were recorded."
    if len(got) != len(expected):
        return f"optimizer.step() ran {len(got)} times; expected {len(expected)}."
    for step, (want, have) in enumerate(zip(expected, got, strict=True), start=1):
        if not isinstance(have, list | tuple) or len(have) != len(want):
            return f"after step {step} the parameters could not be read."
        for name, w, h in zip(names, want, have, strict=True):
            verdict = compare(w, h, tolerance, what=f"parameter {name}")
            if not verdict.ok:
                return f"after step {step} of {len(expected)}, {verdict.message}"
    return None


def _matches(names: Sequence[str], tolerance: Tolerance, key: str) -> Any:
    def matches(wrong: dict[str, Any], got: Any) -> bool:
        return first_divergence(wrong[key], got, names, tolerance) is None

    return matches


class _HarnessCheck(CheckSpec):
    """Runs one harness of ``_drivers`` on the reference here and on the student's code there.

    Subclasses say which harness and driver, build the payload and judge the two results.
    """

    call: str
    reference: str
    seed: int = 0
    dtypes: list[DTypeName] = Field(default_factory=both_dtypes)
    mistakes: list[Mistake] = Field(default_factory=list)

    driver: ClassVar[Driver]

    def _harness(self, target: Any, payload: dict[str, Any]) -> dict[str, Any]:
        """The driver's harness, run here on the reference (or a replayed mistake).

        Its result depends on the payload alone, so that it can be recorded for a release.
        """
        raise NotImplementedError

    def run(self, ctx: CheckContext) -> CheckOutcome:
        for dtype_name in self.dtypes:
            dtype = DTYPES[dtype_name]
            payload = self._payload(dtype)
            expected = ctx.run_reference(self.reference, self._harness, payload)
            got = ctx.drive(type(self).driver, self.call, self._for_student(ctx, payload))
            if not isinstance(got, dict):
                return self.failed(f"{self.call} could not be run.", explained=False)
            problem = self._problem(ctx, payload, expected, got, dtype_name)
            if problem:
                message, hint = problem
                return self.failed(message, hint)
        return CheckOutcome(True)

    def _payload(self, dtype: torch.dtype) -> dict[str, Any]:
        raise NotImplementedError

    def _for_student(self, ctx: CheckContext, payload: dict[str, Any]) -> dict[str, Any]:
        """What the student's side receives: the payload, unless a subclass adds to it."""
        return payload

    def _problem(
        self,
        ctx: CheckContext,
        payload: dict[str, Any],
        expected: dict[str, Any],
        got: dict[str, Any],
        dtype_name: DTypeName,
    ) -> tuple[str, str | None] | None:
        raise NotImplementedError

    def _recognise(
        self, ctx: CheckContext, payload: dict[str, Any], got: Any, key: str, names: list[str]
    ) -> str | None:
        tolerance = self.tolerance(DTYPES[payload.get("dtype", "float64")], ctx.device)
        return recognise(
            ctx, self.mistakes, got, self._harness, payload, _matches(names, tolerance, key)
        )


@register_check
class OptimizerTrajectoryCheck(_HarnessCheck):
    """An optimiser class steps parameters exactly as a reference optimiser does."""

    kind: Literal["optimizer_trajectory"] = "optimizer_trajectory"
    driver: ClassVar[Driver] = optimizer_run
    kwargs: dict[str, float | list[float]] = Field(default_factory=dict)
    shapes: list[list[int]] = Field(default_factory=lambda: [[4, 3], [3]])
    steps: int = Field(8, ge=1)
    skip_grad: bool = Field(
        False, description="Leave the first parameter's grad None at odd steps."
    )
    lrs: list[float] = Field(
        default_factory=list,
        description="Learning rates set before the first steps, one a step, as a schedule does "
        "(optimizer.lr; torch.optim's in its param groups); after them the last one stays.",
    )
    zero_grad: bool = Field(
        True,
        description="Then call zero_grad() and require every .grad cleared; false grades the "
        "steps alone, so that zero_grad() earns its own share in the checks that keep it.",
    )
    reuse_grad: bool = Field(
        False,
        description="Write each step's gradients into the .grad tensors already there, in "
        "place, as backward() does after zero_grad(set_to_none=False): an optimiser that keeps "
        "p.grad itself (a momentum buffer without .clone()) sees its state change with it.",
    )

    def _harness(self, target: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return optimizer_run(target, payload)

    def _problem(
        self,
        ctx: CheckContext,
        payload: dict[str, Any],
        expected: dict[str, Any],
        got: dict[str, Any],
        dtype_name: DTypeName,
    ) -> tuple[str, str | None] | None:
        names = [f"{i} (shape {shape})" for i, shape in enumerate(self.shapes)]
        setting = f"{self.call}({self._arguments()}) in {dtype_name}"
        if self.lrs:
            rates = ", ".join(f"{lr:g}" for lr in self.lrs)
            setting += f", with optimizer.lr set to {rates} before steps 1 to {len(self.lrs)}"
        tolerance = self.tolerance(DTYPES[dtype_name], ctx.device)
        problem = first_divergence(expected["trajectory"], got.get("trajectory"), names, tolerance)
        if problem:
            hint = self._recognise(ctx, payload, got.get("trajectory"), "trajectory", names)
            skipped = (
                " (in this check parameter 0 has no gradient at every second step:"
                " a parameter whose .grad is None must be left alone)"
            )
            return (
                f"{setting}, {self.steps} steps with random gradients: {problem}"
                + (skipped if self.skip_grad else ""),
                hint,
            )
        cleared = got.get("cleared")
        if self.zero_grad and (
            not isinstance(cleared, list) or not all(c is True for c in cleared)
        ):
            return (
                f"{setting}: after zero_grad() a parameter still has a non-zero .grad "
                "(set each .grad to None, or fill it with zeros).",
                None,
            )
        return None

    def _arguments(self) -> str:
        return ", ".join(["params", *(f"{key}={value!r}" for key, value in self.kwargs.items())])

    def _payload(self, dtype: torch.dtype) -> dict[str, Any]:
        generator = torch.Generator().manual_seed(self.seed)

        def draw(shape: list[int]) -> torch.Tensor:
            return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)

        params = [draw(shape) for shape in self.shapes]
        grads: list[list[torch.Tensor | None]] = []
        for step in range(self.steps):
            row: list[torch.Tensor | None] = [draw(shape) for shape in self.shapes]
            if self.skip_grad and step % 2:
                row[0] = None
            grads.append(row)
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in self.kwargs.items()}
        return {
            "dtype": str(dtype).removeprefix("torch."),
            "params": params,
            "grads": grads,
            "kwargs": kwargs,
            "lrs": list(self.lrs),
            "zero_grad": self.zero_grad,
            # Only when set: the payloads of existing checks, and so their recordings, stay.
        } | ({"reuse_grad": True} if self.reuse_grad else {})


@register_check
class GradientFunctionCheck(_HarnessCheck):
    """A function of parameters that hold gradients returns what the reference does and leaves
    the same gradients (``clip_grad_norm(params, max_norm)`` against PyTorch's
    ``clip_grad_norm_``). The parameters arrive as a generator, as ``model.parameters()``.
    """

    kind: Literal["gradient_function"] = "gradient_function"
    driver: ClassVar[Driver] = gradient_run
    kwargs: dict[str, float] = Field(default_factory=dict)
    shapes: list[list[int]] = Field(default_factory=lambda: [[4, 3], [3]])
    scale: float = Field(1.0, description="The standard deviation of the random gradients.")
    skip_grad: bool = Field(False, description="Leave the first parameter's grad None.")

    def _harness(self, target: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return gradient_run(target, payload)

    def _payload(self, dtype: torch.dtype) -> dict[str, Any]:
        generator = torch.Generator().manual_seed(self.seed)

        def draw(shape: list[int], scale: float) -> torch.Tensor:
            return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(dtype)

        params = [draw(shape, 1.0) for shape in self.shapes]
        grads: list[torch.Tensor | None] = [draw(shape, self.scale) for shape in self.shapes]
        if self.skip_grad:
            grads[0] = None
        return {
            "dtype": str(dtype).removeprefix("torch."),
            "params": params,
            "grads": grads,
            "kwargs": dict(self.kwargs),
        }

    def _setting(self, payload: dict[str, Any], dtype_name: str) -> str:
        grads = [g for g in payload["grads"] if g is not None]
        # A start of 0 as a tensor: with no gradient at all the sum is empty.
        zero = torch.zeros((), dtype=torch.float64)
        norm = float(torch.sqrt(sum(((g.double() ** 2).sum() for g in grads), zero)))
        arguments = ", ".join(["params", *(f"{k}={v!r}" for k, v in self.kwargs.items())])
        shapes = ", ".join(str(shape) for shape in self.shapes)
        skipped = " (the first has no .grad)" if self.skip_grad else ""
        return (
            f"{self.call}({arguments}) in {dtype_name} on {len(self.shapes)} parameters of "
            f"shapes {shapes}{skipped} whose gradients have a global norm of {norm:.6g} "
            f"(seed {self.seed})"
        )

    def _problem(
        self,
        ctx: CheckContext,
        payload: dict[str, Any],
        expected: dict[str, Any],
        got: dict[str, Any],
        dtype_name: DTypeName,
    ) -> tuple[str, str | None] | None:
        tolerance = self.tolerance(DTYPES[dtype_name], ctx.device)
        problem = _gradient_problem(expected, got, tolerance)
        if problem is None:
            return None

        def matches(wrong: dict[str, Any], answer: Any) -> bool:
            return _gradient_problem(wrong, answer, tolerance) is None

        hint = recognise(ctx, self.mistakes, got, self._harness, payload, matches)
        return f"{self._setting(payload, dtype_name)}: {problem}", hint


def _gradient_problem(expected: dict[str, Any], got: Any, tolerance: Tolerance) -> str | None:
    """How a gradient function's result and gradients differ from the reference's."""
    verdict = compare_tree(expected["value"], got.get("value"), tolerance, what="the result")
    if not verdict.ok:
        return verdict.message
    grads = got.get("grads")
    if not isinstance(grads, list) or len(grads) != len(expected["grads"]):
        return "the gradients could not be read."
    for i, (want, have) in enumerate(zip(expected["grads"], grads, strict=True)):
        if want is None:
            if have is not None:
                return f"parameter {i} had no .grad and must keep none."
            continue
        verdict = compare(
            want, have, tolerance, what=f"the gradient of parameter {i} after the call"
        )
        if not verdict.ok:
            return verdict.message
    return None


@register_check
class TrainingLoopCheck(_HarnessCheck):
    """A training-loop function drives a model exactly as the reference loop does.

    The model is a small PyTorch MLP (``sizes``, ``activation``) with seeded weights, the loss
    and optimiser are PyTorch's; ``arguments`` lists what the function receives, in order:
    ``model``, ``loss_fn``, ``optimizer``, a batch list named in ``batches`` or a number from
    ``values``. Checked: the returned value, the parameters after every step, the final
    parameters and, with ``mode``, how the model ran (training with gradients, or eval without).
    """

    kind: Literal["training_loop"] = "training_loop"
    driver: ClassVar[Driver] = run_loop
    arguments: list[str]
    sizes: list[int] = Field(default_factory=lambda: [3, 6, 2])
    activation: Literal["relu", "tanh"] = "relu"
    loss: Literal["mse", "cross_entropy", "bce_with_logits"] = "mse"
    optimizer: dict[str, str | float] = Field(
        default_factory=lambda: dict[str, str | float](name="SGD", lr=0.1)
    )
    batches: dict[str, int] = Field(default_factory=lambda: {"train": 4})
    batch_size: int = 5
    values: dict[str, int | float] = Field(default_factory=dict)
    mode: Literal["train", "eval"] | None = None
    result: bool = Field(
        True,
        description="Compare the returned value; false grades only the weights (and the mode), "
        "so that a wrong return value and a wrong update can earn separate credit.",
    )
    dtypes: list[DTypeName] = Field(default_factory=lambda: list[DTypeName](["float64"]))
    substitute: str | None = Field(
        None,
        description="A grader-side observer (lab:<name>), called like the function with a "
        "record(name, value) first, that runs the reference versions of the other student "
        "functions this one calls. During the student's call those functions are replaced by "
        "replays of what it recorded: the check grades its own function only, not a bug in "
        "another exercise it happens to call.",
    )

    def _harness(self, target: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return run_loop(target, payload)

    def _for_student(self, ctx: CheckContext, payload: dict[str, Any]) -> dict[str, Any]:
        if self.substitute is None:
            return payload
        # The reference runs on its own reference helpers, so its result is what the student's
        # function gives on the replays when it is right.
        return payload | {"replay": ctx.run_reference(self.substitute, observe_loop, payload)}

    def _problem(
        self,
        ctx: CheckContext,
        payload: dict[str, Any],
        expected: dict[str, Any],
        got: dict[str, Any],
        dtype_name: DTypeName,
    ) -> tuple[str, str | None] | None:
        where = f"{self.call}({', '.join(self.arguments)}) in {dtype_name}: "
        tolerance = self.tolerance(DTYPES[dtype_name], ctx.device)
        # nn.Sequential numbers its layers; the Linear layers are every other one.
        names = [
            f"{2 * i}.{kind}" for i in range(len(self.sizes) - 1) for kind in ("weight", "bias")
        ]
        divergence = first_divergence(expected["steps"], got.get("steps"), names, tolerance)
        if divergence:
            return where + divergence, self._recognise(
                ctx, payload, got.get("steps"), "steps", names
            )
        final = compare_tree(expected["final"], got.get("final"), tolerance, what="the weights")
        if not final.ok:
            return f"{where}when it returned, {final.message}", None
        returned = compare_tree(expected["value"], got.get("value"), tolerance, what="the result")
        if self.result and not returned.ok:
            return where + returned.message, None
        if self.mode is not None:
            problem = self._mode_problem(got.get("modes"))
            return (where + problem, None) if problem else None
        return None

    def _mode_problem(self, modes: Any) -> str | None:
        if not isinstance(modes, list) or not modes:
            return "the model was never called."
        training = self.mode == "train"
        for was_training, grad_enabled in modes:
            if was_training is not training:
                call = "model.train()" if training else "model.eval()"
                return f"the model ran in the wrong mode: call {call} first."
            if grad_enabled is not training:
                if training:
                    return "gradients were disabled during training."
                return "gradients were recorded: evaluate under torch.no_grad()."
        return None

    def _payload(self, dtype: torch.dtype) -> dict[str, Any]:
        generator = torch.Generator().manual_seed(self.seed)

        def draw(*shape: int) -> torch.Tensor:
            return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)

        state = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:], strict=False):
            state += [0.5 * draw(fan_out, fan_in), 0.5 * draw(fan_out)]
        data: dict[str, Any] = dict(self.values)
        for name, count in self.batches.items():
            data[name] = [self._batch(draw, generator) for _ in range(count)]
        return {
            "dtype": str(dtype).removeprefix("torch."),
            "model": {"sizes": self.sizes, "activation": self.activation, "state": state},
            "loss": self.loss,
            "optimizer": dict(self.optimizer),
            "arguments": self.arguments,
            "data": data,
            # The opposite of the mode the loop must set, so that forgetting to set it shows.
            "start_in_eval": self.mode == "train",
        }

    def _batch(self, draw: Any, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = draw(self.batch_size, self.sizes[0])
        classes = self.sizes[-1]
        if self.loss == "cross_entropy":
            return x, torch.randint(0, classes, (self.batch_size,), generator=generator)
        if self.loss == "bce_with_logits":
            y = torch.randint(0, 2, (self.batch_size, classes), generator=generator)
            return x, y.to(x.dtype)
        return x, draw(self.batch_size, classes)
