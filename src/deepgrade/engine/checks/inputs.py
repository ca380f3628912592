"""The inputs of a check's calls: dtypes, generated tensors, and the fields of the checks that
call a student function on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from deepgrade.engine.checks.context import CheckContext, call_with
from deepgrade.model.spec import register_check as register_check

DTypeName = Literal["float32", "float64"]


def both_dtypes() -> list[DTypeName]:
    """The default of every check's ``dtypes``: graded functions must handle both."""
    return ["float32", "float64"]


DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


class TensorSpec(BaseModel):
    """How the grader generates one tensor argument from a seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gen: Literal["randn", "uniform", "values", "randint"] = "randn"
    shape: list[int] = Field(default_factory=lambda: [4, 5])
    scale: float = 1.0
    low: float = -1.0
    high: float = 1.0
    values: list[float] | None = None
    min_abs: float = Field(0.0, description="Push values at least this far from zero (kinks).")

    def make(self, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        if self.gen == "values":
            if self.values is None:
                raise ValueError("gen = 'values' needs a list of values")
            tensor = torch.tensor(self.values, dtype=torch.float64)
            if self.shape != [4, 5]:
                tensor = tensor.reshape(self.shape)
        elif self.gen == "randint":
            # Class indices: integers in [low, high), always int64 whatever the check's dtype.
            return torch.randint(int(self.low), int(self.high), self.shape, generator=generator)
        elif self.gen == "uniform":
            tensor = torch.rand(self.shape, generator=generator, dtype=torch.float64)
            tensor = self.low + (self.high - self.low) * tensor
        else:
            tensor = self.scale * torch.randn(self.shape, generator=generator, dtype=torch.float64)
        if self.min_abs:
            tensor = tensor + self.min_abs * torch.sign(tensor)
        return tensor.to(dtype)

    def describe(self, seed: int) -> str:
        if self.gen == "values":
            return f"values {self.values}"
        if self.gen == "randint":
            return f"integers in [{self.low:g}, {self.high:g}) of shape {self.shape} (seed {seed})"
        if self.gen == "uniform":
            return f"uniform({self.low:g}, {self.high:g}) of shape {self.shape} (seed {seed})"
        scaled = f"{self.scale:g} * " if self.scale != 1 else ""
        away = f", moved {self.min_abs:g} away from 0" if self.min_abs else ""
        return f"{scaled}randn{tuple(self.shape)} (seed {seed}{away})"


# The pydantic mypy plugin mistakes the field named kwargs for the **kwargs of __init__.
class ArgumentsMixin(BaseModel):  # type: ignore[no-redef]
    """Fields shared by the checks that call a student function on generated inputs."""

    call: str = Field(description="Name of the student's function in the submission.")
    args: list[TensorSpec] = Field(default_factory=lambda: [TensorSpec()])
    inputs: str | None = Field(
        None,
        description="A grader-side builder (lab:<name>) called with a seeded generator and the "
        "dtype, returning (args, kwargs); replaces ``args`` for inputs that are not plain "
        "random tensors (lists of tensors, numbers, test functions, planted data).",
    )
    # A TOML array becomes a tuple (a stride = [2, 1] is a tuple argument, as in PyTorch).
    kwargs: dict[str, float | int | bool | str | tuple[float | int | bool, ...]] = Field(
        default_factory=dict
    )
    seed: int = 0
    grad_args: list[int] | None = Field(
        None, description="Arguments whose gradients are checked (default: every float tensor)."
    )

    def make_args(self, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        return [spec.make(generator, dtype).to(device) for spec in self.args]

    def make_inputs(
        self, ctx: CheckContext, dtype: torch.dtype
    ) -> tuple[list[Any], dict[str, Any]]:
        """The call's positional and keyword arguments, on the context's device."""
        if self.inputs is None:
            return self.make_args(dtype, ctx.device), dict(self.kwargs)
        generator = torch.Generator().manual_seed(self.seed)
        args, kwargs = ctx.run_reference(self.inputs, call_with, ([generator, dtype], {}))
        return to_device(list(args), ctx.device), to_device(dict(kwargs), ctx.device) | dict(
            self.kwargs
        )

    def gradient_positions(self, args: Sequence[Any]) -> list[int]:
        if self.grad_args is not None:
            return list(self.grad_args)
        return [
            i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.is_floating_point()
        ]

    def grad_output_text(self, hidden: bool) -> str:
        """How a check names its random ``grad_output`` (hidden seeds stay hidden)."""
        return "a random grad_output" + ("" if hidden else f" (seed {self.seed + 1})")

    def describe_call(
        self, args: Sequence[Any], hidden: bool, kwargs: Mapping[str, Any] | None = None
    ) -> str:
        """How the call looked, without revealing a hidden input's values."""
        specs: list[TensorSpec | None] = list(self.args) if self.inputs is None else []
        specs += [None] * (len(args) - len(specs))
        parts = [
            _describe_argument(arg, spec, self.seed, hidden)
            for spec, arg in zip(specs, args, strict=False)
        ]
        shown = self.kwargs if kwargs is None else kwargs
        parts += [
            f"{key}={_describe_argument(value, None, self.seed, hidden)}"
            for key, value in shown.items()
        ]
        return f"{self.call}({', '.join(parts)})"


def _describe_argument(arg: Any, spec: TensorSpec | None, seed: int, hidden: bool) -> str:
    if isinstance(arg, torch.Generator):
        # Its repr is a memory address; the seed is what lets a student replay the call.
        return "a torch.Generator" + ("" if hidden else f" seeded with {arg.initial_seed()}")
    if isinstance(arg, list | tuple) and all(isinstance(a, torch.Tensor) for a in arg) and arg:
        shapes = ", ".join(str(list(a.shape)) for a in arg)
        return f"[{len(arg)} tensors of shapes {shapes}]"
    if not isinstance(arg, torch.Tensor):
        if hidden and isinstance(arg, int | float) and not isinstance(arg, bool):
            return "<hidden number>"
        return repr(arg)
    dtype = str(arg.dtype).removeprefix("torch.")
    if hidden:
        return f"<hidden input of shape {list(arg.shape)}>"
    if arg.numel() <= 8:
        values = ", ".join(f"{v:.6g}" for v in arg.cpu().reshape(-1).tolist())
        shape = f", shape {list(arg.shape)}" if arg.dim() != 1 else ""
        return f"tensor([{values}]{shape}, dtype={dtype})"
    if spec is None:
        return f"a {dtype} tensor of shape {list(arg.shape)} (seed {seed})"
    return f"{spec.describe(seed)} as {dtype}"


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor inside it moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list | tuple):
        return type(value)(to_device(item, device) for item in value)
    if isinstance(value, dict):
        return {key: to_device(item, device) for key, item in value.items()}
    return value
