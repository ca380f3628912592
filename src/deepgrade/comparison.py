"""Comparing a student's tensor with the expected one, and explaining the difference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from deepgrade._wire import ForeignObject


class Tolerance(BaseModel):
    """``|got - expected| <= atol + rtol * |expected|`` elementwise, as in ``torch.isclose``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


# torch.testing.assert_close's defaults for float32; float64 a little looser than its default
# because expected gradients come from a different (but exact) evaluation order.
DEFAULT_TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float16: Tolerance(rtol=1e-3, atol=1e-5),
    torch.bfloat16: Tolerance(rtol=1.6e-2, atol=1e-5),
    torch.float32: Tolerance(rtol=1.3e-6, atol=1e-5),
    torch.float64: Tolerance(rtol=1e-7, atol=1e-7),
}


def default_tolerance(dtype: torch.dtype) -> Tolerance:
    return DEFAULT_TOLERANCES.get(dtype, Tolerance(rtol=0.0, atol=0.0))


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
) -> Comparison:
    """Compare ``got`` with ``expected``: type, shape, dtype and device first, then values."""
    if not isinstance(got, torch.Tensor):
        return Comparison(False, f"{what} should be a tensor, but it is {describe_value(got)}.")
    if got.shape != expected.shape:
        hint = ""
        if got.numel() == expected.numel():
            hint = " (same number of elements: a transpose or a reshape?)"
        elif got.dim() < expected.dim():
            hint = " (a reduction too many, or keepdim missing?)"
        return Comparison(
            False,
            f"{what} has shape {list(got.shape)}, expected {list(expected.shape)}{hint}.",
        )
    if got.dtype != expected.dtype:
        return Comparison(
            False,
            f"{what} has dtype {_dtype_name(got.dtype)}, expected {_dtype_name(expected.dtype)}"
            " (keep the dtype of the input).",
        )
    if (
        expected_device is not None
        and got_device is not None
        and torch.device(got_device) != expected_device
    ):
        return Comparison(
            False, f"{what} is on {got_device}, expected {expected_device} (stay on its device)."
        )
    return compare_values(expected, got, tolerance, what=what)


def compare_values(
    expected: torch.Tensor, got: torch.Tensor, tolerance: Tolerance, *, what: str = "the output"
) -> Comparison:
    """Elementwise comparison of two tensors of the same shape, reporting the worst element."""
    exp = expected.detach().to(torch.float64)
    act = got.detach().to(torch.float64)
    close = torch.isclose(act, exp, rtol=tolerance.rtol, atol=tolerance.atol, equal_nan=True)
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
    hint = _value_hint(exp, act, close)
    return Comparison(False, message + (f" {hint}" if hint else ""), index)


def _value_hint(exp: torch.Tensor, act: torch.Tensor, close: torch.Tensor) -> str:
    finite_expected = torch.isfinite(exp)
    if bool((~torch.isfinite(act) & finite_expected).any()):
        return (
            "Hint: you produced NaN or infinity where the answer is finite: "
            "an overflow (exp of a large number?) or 0/0."
        )
    if bool((torch.isnan(exp) & ~torch.isnan(act)).any()):
        return "Hint: a NaN input must give NaN, as PyTorch does."
    ratio = act[~close] / exp[~close]
    if (
        ratio.numel()
        and bool(torch.isfinite(ratio).all())
        and float(ratio.std(unbiased=False)) < 1e-6
        and bool(ratio.any())  # all zeros where values were expected is no "factor"
    ):
        return (
            f"Hint: your values are {_factor(float(ratio.mean()))} times the expected ones: "
            "a constant factor is off."
        )
    return ""


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
