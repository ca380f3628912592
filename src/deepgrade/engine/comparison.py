"""Comparing a student's tensor with the expected one, and explaining the difference."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from deepgrade.engine.devices import same_device
from deepgrade.sandbox.wire import ForeignObject


class Tolerance(BaseModel):
    """``|got - expected| <= atol + rtol * |expected|`` elementwise, as in ``torch.isclose``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"

    def at_scale(self, scale: float, dtype: torch.dtype) -> Tolerance:
        """This tolerance for results computed from numbers as large as ``scale``.

        Rounding an intermediate as large as the inputs costs a few units in the last place of
        that intermediate, whatever the size of the result: x - logsumexp(x) at logits of 1e4
        is off by about 1e-3 in float32 whichever stable ordering computes it. So the absolute
        tolerance grows to ``_ULPS`` units of ``scale`` (no change for inputs near 1).
        """
        if not dtype.is_floating_point or not math.isfinite(scale):
            return self
        atol = max(self.atol, _ULPS * torch.finfo(dtype).eps * scale)
        return self if atol == self.atol else Tolerance(rtol=self.rtol, atol=atol)


# Units in the last place of the largest input that a correct computation may lose.
_ULPS = 4


def magnitude(value: Any) -> float:
    """The largest finite absolute value among the floating tensors and floats in ``value``
    (lists, tuples and dicts of them); 0 where there is none."""
    largest = 0.0
    for number in _numbers(value):
        finite = number[torch.isfinite(number)]
        if finite.numel():
            largest = max(largest, float(finite.abs().max()))
    return largest


def has_nonfinite(value: Any) -> bool:
    """Whether ``value`` (a tensor, a number, or lists, tuples and dicts of them) holds a NaN
    or an infinity."""
    return any(not bool(torch.isfinite(number).all()) for number in _numbers(value))


def _numbers(value: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    """The floating tensors and floats (as tensors) inside ``value``; past a nesting depth that
    no reply reaches, nothing."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            yield value.detach()
    elif isinstance(value, float):
        yield torch.tensor(value, dtype=torch.float64)
    elif depth <= 64 and isinstance(value, list | tuple):
        for item in value:
            yield from _numbers(item, depth + 1)
    elif depth <= 64 and isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item, depth + 1)


# On the CPU: torch.testing.assert_close's defaults for float32; float64 a little looser than
# its default because expected gradients come from a different (but exact) evaluation order.
_CPU_TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float16: Tolerance(rtol=1e-3, atol=1e-5),
    torch.bfloat16: Tolerance(rtol=1.6e-2, atol=1e-5),
    torch.float32: Tolerance(rtol=1.3e-6, atol=1e-5),
    torch.float64: Tolerance(rtol=1e-7, atol=1e-7),
}

# On CUDA, float32 gets about 80 units in the last place instead of 10: GPU kernels sum in a
# different order (parallel trees, atomics), use their own exp/log (up to 2 ulp off), fuse
# operations, and some expected values (sympy gradients) are exact float64 numbers from the
# CPU. float64 keeps the CPU's values: its rounding stays far below them whatever the order.
# TF32 is switched off on both sides (sandbox.precision.exact_float32); it would need rtol near
# 1e-2.
DEFAULT_TOLERANCES: dict[str, dict[torch.dtype, Tolerance]] = {
    "cpu": _CPU_TOLERANCES,
    "cuda": _CPU_TOLERANCES | {torch.float32: Tolerance(rtol=1e-5, atol=1e-5)},
}


# Bit for bit, up to NaN payloads and the sign of zero, as ``torch.equal`` plus the NaN pattern:
# "left unchanged" allows no rounding at all.
EXACT = Tolerance(rtol=0.0, atol=0.0)


def default_tolerance(dtype: torch.dtype, device: torch.device | None = None) -> Tolerance:
    """The tolerance for results of ``dtype`` computed on ``device`` (the CPU when not given);
    exact for integers and booleans."""
    table = DEFAULT_TOLERANCES.get(device.type if device else "cpu", _CPU_TOLERANCES)
    return table.get(dtype, Tolerance(rtol=0.0, atol=0.0))


@dataclass(frozen=True)
class Comparison:
    """The verdict on one value: ``ok``, or why not and where."""

    ok: bool
    message: str = ""
    worst_index: tuple[int, ...] | None = None


def describe_value(value: Any) -> str:
    """A short description of what a student returned, for messages."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}, dtype {_dtype_name(value.dtype)}"
    if isinstance(value, ForeignObject):
        return f"an object of type {value.type_name}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"{type(value).__name__} {value!r}"[:120]


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def compare(
    expected: torch.Tensor,
    got: Any,
    tolerance: Tolerance,
    *,
    got_device: str | None = None,
    expected_device: torch.device | None = None,
    what: str = "the output",
    derived: bool = False,
) -> Comparison:
    """Compare ``got`` with ``expected``: type, device, shape and dtype first, then values.

    ``got_device`` is the device the worker reported for ``got`` (which arrives on the CPU);
    the device is checked when both it and ``expected_device`` are given. ``derived`` says
    that ``expected`` was computed from the student's own results (see ``compare_values``).
    """
    if not isinstance(got, torch.Tensor):
        return Comparison(False, f"{what} should be a tensor, but it is {describe_value(got)}.")
    # First: on the wrong device, nothing else about the result is the real problem.
    misplaced = device_mismatch(got_device, expected_device, what=what)
    if misplaced is not None:
        return misplaced
    wrong = layout_mismatch(got.shape, got.dtype, expected.shape, expected.dtype, what=what)
    if wrong is not None:
        return Comparison(False, wrong)
    return compare_values(expected, got, tolerance, what=what, derived=derived)


def layout_mismatch(
    got_shape: Sequence[int],
    got_dtype: torch.dtype,
    expected_shape: Sequence[int],
    expected_dtype: torch.dtype,
    *,
    what: str = "the output",
) -> str | None:
    """Why a tensor of ``got_shape`` and ``got_dtype`` cannot be the expected one, or ``None``.

    Also words what the worker reports of a student's backward (``gradients``): autograd's own
    error would not say which mistake it is.
    """
    got, expected = list(got_shape), list(expected_shape)
    if got != expected:
        hint = ""
        if math.prod(got) == math.prod(expected):
            hint = " (same number of elements: a transpose or a reshape?)"
        elif len(got) < len(expected):
            hint = " (a reduction too many, or keepdim missing?)"
        return f"{what} has shape {got}, expected {expected}{hint}."
    if got_dtype != expected_dtype:
        return (
            f"{what} has dtype {_dtype_name(got_dtype)}, expected {_dtype_name(expected_dtype)}"
            " (keep the dtype of the input)."
        )
    return None


def device_mismatch(
    got_device: str | None, expected_device: torch.device | None, *, what: str = "the output"
) -> Comparison | None:
    """The failure of a result the worker reported on ``got_device`` when ``expected_device``
    was asked for; ``None`` when they agree or either is unknown."""
    if got_device is None or expected_device is None or same_device(got_device, expected_device):
        return None
    shown = got_device[:40]
    advice = (
        "create new tensors on the input's device (device=x.device), and do not move results "
        "to the CPU (.cpu(), .numpy(), torch.tensor of a list)"
        if expected_device.type != "cpu"
        else "return it on the device of the input"
    )
    return Comparison(False, f"{what} is on {shown}, but {expected_device} was expected: {advice}.")


def compare_values(
    expected: torch.Tensor,
    got: torch.Tensor,
    tolerance: Tolerance,
    *,
    what: str = "the output",
    derived: bool = False,
) -> Comparison:
    """Elementwise comparison of two tensors of the same shape, reporting the worst element.

    A NaN or an infinity matches only the same value where the reference has it. When
    ``expected`` is ``derived`` from the student's own results (a property such as
    f(-x) = 1 - f(x)), there is no reference: a non-finite value matches nothing, or a
    function that returns NaN everywhere would satisfy every such equation.
    """
    # On the CPU, in float64: a reference may have run on the GPU, replies arrive on the CPU.
    exp = expected.detach().to("cpu", torch.float64)
    act = got.detach().to("cpu", torch.float64)
    close = torch.isclose(act, exp, rtol=tolerance.rtol, atol=tolerance.atol, equal_nan=True)
    if derived:
        close &= torch.isfinite(act) & torch.isfinite(exp)
    if bool(close.all()):
        return Comparison(True)
    excess = (act - exp).abs() - (tolerance.atol + tolerance.rtol * exp.abs())
    # NaN or an infinity in the wrong place is the worst kind of mismatch.
    excess = torch.where(torch.isnan(excess) | torch.isinf(excess), torch.inf, excess)
    excess = torch.where(close, -torch.inf, excess)
    flat = int(torch.argmax(excess.reshape(-1)))
    index = (
        tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), exp.shape))
        if exp.dim()
        else ()
    )
    bad = int((~close).sum())
    e, g = float(exp[index]), float(act[index])
    message = (
        f"{what} differs at {bad} of {exp.numel()} elements; worst at index {list(index)}: "
        f"expected {e:.8g}, got {g:.8g} (|diff| {abs(g - e):.3g}; tolerance {tolerance})."
    )
    hint = _value_hint(exp, act, derived)
    return Comparison(False, message + (f" {hint}" if hint else ""), index)


def _value_hint(exp: torch.Tensor, act: torch.Tensor, derived: bool) -> str:
    if derived and bool((~torch.isfinite(act) | ~torch.isfinite(exp)).any()):
        return "Hint: no property holds for NaN or infinity: your function returned them."
    finite_expected = torch.isfinite(exp)
    if bool((~torch.isfinite(act) & finite_expected).any()):
        return (
            "Hint: you produced NaN or infinity where the answer is finite: "
            "an overflow (exp of a large number?) or 0/0."
        )
    if bool((torch.isnan(exp) & ~torch.isnan(act)).any()):
        return "Hint: a NaN input must give NaN, as PyTorch does."
    factor = _constant_factor(exp, act)
    if factor is not None:
        return (
            f"Hint: your values are {_factor(factor)} times the expected ones: "
            "a constant factor is off."
        )
    return ""


def _constant_factor(exp: torch.Tensor, act: torch.Tensor) -> float | None:
    """The factor ``c`` with ``act = c * exp`` at every element, when there is one that is
    not 1: the hint names a likely cause only where it explains every element, the right
    ones included (two wrong elements of twenty in the same ratio are no "factor"), and a
    ratio that differs from 1 by rounding alone is no mistake."""
    # Elements too small to carry a ratio (zeros, rounding residue) must stay that small.
    scaled = exp.abs() > 1e-6 * float(exp.abs().max())
    if not bool(scaled.any()) or bool((act[~scaled].abs() > 1e-6 * act.abs().max()).any()):
        return None
    ratio = act[scaled] / exp[scaled]
    if not bool(torch.isfinite(ratio).all()):
        return None
    mean = float(ratio.mean())
    if float(ratio.std(unbiased=False)) >= 1e-6 * max(1.0, abs(mean)):
        return None
    # All zeros where values were expected is no "factor", nor a ratio of 1 up to rounding.
    return mean if mean != 0 and abs(mean - 1) > 1e-6 else None


def _factor(value: float) -> str:
    """A factor short when it can be, but never rounded to a misleading "1"."""
    for digits in (4, 6, 9):
        text = f"{value:.{digits}g}"
        if text != "1":
            return text
    return text


def compare_tree(
    expected: Any,
    got: Any,
    tolerance: Tolerance,
    *,
    what: str = "the output",
    got_device: str | None = None,
    expected_device: torch.device | None = None,
) -> Comparison:
    """Compare nested results (tuples, lists, dicts of tensors and numbers) item by item.

    The devices apply to a top-level tensor only: the wire reports no device for nested ones.
    """
    if isinstance(expected, torch.Tensor):
        return compare(
            expected,
            got,
            tolerance,
            got_device=got_device,
            expected_device=expected_device,
            what=what,
        )
    if isinstance(expected, bool):
        if got is not expected:
            return Comparison(
                False, f"{what} should be {expected}, but it is {describe_value(got)}."
            )
        return Comparison(True)
    if isinstance(expected, int | float):
        if isinstance(got, torch.Tensor):
            return Comparison(
                False, f"{what} should be a Python number, but it is a tensor (use .item())."
            )
        if isinstance(got, bool) or not isinstance(got, int | float):
            return Comparison(False, f"{what} should be a number, but it is {describe_value(got)}.")
        return compare_values(
            torch.tensor(float(expected), dtype=torch.float64),
            torch.tensor(float(got), dtype=torch.float64),
            tolerance,
            what=what,
        )
    if isinstance(expected, tuple | list):
        if not isinstance(got, tuple | list) or len(got) != len(expected):
            return Comparison(
                False,
                f"{what} should be a {type(expected).__name__} of {len(expected)} items, "
                f"but it is {describe_value(got)}.",
            )
        for index, (e, g) in enumerate(zip(expected, got, strict=True)):
            verdict = compare_tree(e, g, tolerance, what=f"{what}[{index}]")
            if not verdict.ok:
                return verdict
        return Comparison(True)
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = sorted(got) if isinstance(got, dict) else None
            return Comparison(
                False,
                f"{what} should be a dict with keys {sorted(expected)}, "
                f"but it is {describe_value(got) if keys is None else f'one with keys {keys}'}.",
            )
        for key in expected:
            verdict = compare_tree(expected[key], got[key], tolerance, what=f"{what}[{key!r}]")
            if not verdict.ok:
                return verdict
        return Comparison(True)
    if expected != got:
        return Comparison(False, f"{what} should be {expected!r}, but it is {describe_value(got)}.")
    return Comparison(True)
