"""What every check kind shares: its declared fields, its context, its outcome, the registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import torch
from pydantic import BaseModel, ConfigDict, Field

from deepgrade.comparison import Tolerance, default_tolerance

DTypeName = Literal["float32", "float64"]


def both_dtypes() -> list[DTypeName]:
    """The default of every check's ``dtypes``: graded functions must handle both."""
    return ["float32", "float64"]


DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


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
        grad_output: torch.Tensor | None = None,
    ) -> CallResult:
        """Call ``target`` in the worker; raises a :class:`StudentFailure` when it fails."""
        ...

    def resolve(self, reference: str) -> Any:
        """The grader-side object named ``reference`` (``torch.sigmoid``, ``lab:heaviside``)."""
        ...


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict of one check: passed or not, with an explanation when not."""

    passed: bool
    message: str = ""


class TensorSpec(BaseModel):
    """How the grader generates one tensor argument from a seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gen: Literal["randn", "uniform", "values"] = "randn"
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
        if self.gen == "uniform":
            return f"uniform({self.low:g}, {self.high:g}) of shape {self.shape} (seed {seed})"
        scaled = f"{self.scale:g} * " if self.scale != 1 else ""
        away = f", moved {self.min_abs:g} away from 0" if self.min_abs else ""
        return f"{scaled}randn{tuple(self.shape)} (seed {seed}{away})"


class CheckSpec(BaseModel, ABC):
    """One declared check of an exercise. Subclasses add their fields and implement ``run``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    name: str
    weight: float = Field(1.0, gt=0)
    hint: str | None = Field(None, description="Shown when this check fails.")
    hidden: bool = Field(False, description="Set by the loader for checks from hidden files.")
    tolerances: dict[DTypeName, Tolerance] = Field(default_factory=dict)

    def tolerance(self, dtype: torch.dtype) -> Tolerance:
        for name, override in self.tolerances.items():
            if DTYPES[name] == dtype:
                return override
        return default_tolerance(dtype)

    @abstractmethod
    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Run the check against the student's code reachable through ``ctx``."""

    def failed(self, message: str) -> CheckOutcome:
        """An outcome that adds this check's hint to ``message``."""
        hint = f" Hint: {self.hint}" if self.hint else ""
        return CheckOutcome(False, message + hint)


# The pydantic mypy plugin mistakes the field named kwargs for the **kwargs of __init__.
class ArgumentsMixin(BaseModel):  # type: ignore[no-redef]
    """Fields shared by the checks that call a student function on generated tensors."""

    call: str = Field(description="Name of the student's function in the submission.")
    args: list[TensorSpec] = Field(default_factory=lambda: [TensorSpec()])
    kwargs: dict[str, float | int | bool | str] = Field(default_factory=dict)
    seed: int = 0

    def make_args(self, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        return [spec.make(generator, dtype).to(device) for spec in self.args]

    def grad_output_text(self, hidden: bool) -> str:
        """How a check names its random ``grad_output`` (hidden seeds stay hidden)."""
        return "a random grad_output" + ("" if hidden else f" (seed {self.seed + 1})")

    def describe_call(self, args: Sequence[torch.Tensor], hidden: bool) -> str:
        """How the call looked, without revealing a hidden input's values."""
        parts = []
        for spec, arg in zip(self.args, args, strict=True):
            if hidden:
                parts.append(f"<hidden input of shape {list(arg.shape)}>")
            elif arg.numel() <= 8:
                values = ", ".join(f"{v:.6g}" for v in arg.cpu().reshape(-1).tolist())
                shape = f", shape {list(arg.shape)}" if arg.dim() != 1 else ""
                parts.append(f"tensor([{values}]{shape}, dtype={str(arg.dtype)[6:]})")
            else:
                parts.append(f"{spec.describe(self.seed)} as {str(arg.dtype)[6:]}")
        parts += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return f"{self.call}({', '.join(parts)})"


_REGISTRY: dict[str, type[CheckSpec]] = {}


def register_check(cls: type[CheckSpec]) -> type[CheckSpec]:
    """Class decorator: make a check kind loadable from lab files by its ``kind``."""
    kind = cls.model_fields["kind"].default
    if not isinstance(kind, str):
        raise TypeError(f"{cls.__name__} must give 'kind' a default")
    _REGISTRY[kind] = cls
    return cls


def check_kinds() -> Mapping[str, type[CheckSpec]]:
    return dict(_REGISTRY)
