"""Grader-side references for Lab 4 (backpropagation).

Checks name these as ``lab:<name>``. They run in the grader only, never next to student code:

- references: the grader's own answer for an exercise, computed independently of the
  student's method (sympy for the chain rule, torch autograd for everything else);
- input builders ``builder(generator, dtype) -> (args, kwargs)`` for inputs that are not plain
  random tensors (Python numbers, test functions, planted exact zeros);
- judges ``judge(result, args, kwargs, expected=...) -> None | reason`` for results graded in
  parts, comparing with ``expected``: the reference's answer on the check's inputs, or a known
  mistake's. A student release records those answers and ships the judges as code, so a judge
  holds comparisons only;
- mistakes: functions with a reference's signature that make one known error; lab.toml pairs
  each with its hint, and the engine replays them on the same inputs, so that a recognised
  wrong answer earns a specific hint.

``Value`` needs nothing here: the ``value_program`` check compares it with torch autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sympy
import torch
import torch.nn.functional as F

from deepgrade.engine.labkit import (
    Comparison,
    Inputs,
    Probe,
    Verdict,
    compare,
    default_tolerance,
    describe_value,
)

Grads = dict[str, torch.Tensor]
Triple = tuple[float, float, float]

# -- chain_rule_grads --------------------------------------------------------------------------
_X, _Y, _Z = sympy.symbols("x y z", real=True)
_F = (_X + _Y) * _Z


def chain_rule_grads(x: float, y: float, z: float) -> tuple[float, float, float]:
    """(df/dx, df/dy, df/dz) of f = (x + y) z by ``sympy.diff``, as Python floats."""
    point = {_X: x, _Y: y, _Z: z}
    dx, dy, dz = (float(sympy.diff(_F, v).subs(point)) for v in (_X, _Y, _Z))
    return dx, dy, dz


def chain_rule_own_factor(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Mistake: each factor of q * z receives itself instead of the other factor."""
    q = float(x + y)
    return q, q, float(z)


def chain_rule_reversed(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Mistake: the gradients in the order (df/dz, df/dy, df/dx)."""
    return float(x + y), float(z), float(z)


def _three_numbers(generator: torch.Generator, low: float, high: float) -> list[float]:
    values = low + (high - low) * torch.rand(3, generator=generator, dtype=torch.float64)
    return [round(v, 3) for v in values.tolist()]


def chain_rule_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Three random Python floats in [-3, 3] (rounded, so messages stay readable)."""
    return list(_three_numbers(generator, -3.0, 3.0)), {}


def chain_rule_wide_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Three random Python floats in [-500, 500]."""
    return list(_three_numbers(generator, -500.0, 500.0)), {}


def chain_rule_lecture_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """The notebook's example x = 1, y = -3, z = 4 (gradient (4, 4, -2))."""
    return [1.0, -3.0, 4.0], {}


def chain_rule_integer_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """The same example with Python ints: the result must still be three floats."""
    return [1, -3, 4], {}


_CHAIN_NAMES = ("df/dx", "df/dy", "df/dz")


def _close(expected: float, got: float) -> bool:
    return abs(expected - got) <= 1e-9 * max(1.0, abs(expected))


def chain_rule_judge(
    result: Any, args: Sequence[Any], kwargs: dict[str, Any], *, expected: Triple
) -> Verdict:
    """Judge: the three derivatives equal ``expected`` (sympy's, or a replayed mistake's: see
    the check's ``mistakes``); any numbers, three_floats checks the types."""
    if not isinstance(result, tuple | list) or len(result) != 3:
        return f"it returned {describe_value(result)}; return a tuple (df/dx, df/dy, df/dz).", None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in result):
        kinds = ", ".join(describe_value(v) for v in result)
        return f"it returned ({kinds}); return three Python numbers (use .item() or float()).", None
    for name, wanted, got in zip(_CHAIN_NAMES, expected, result, strict=True):
        if not _close(wanted, got):
            return f"{name} should be {wanted:.10g}, got {got!r}."
    return None


def three_floats(result: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> str | None:
    """Judge: a tuple of three Python floats (the values are the other checks' business)."""
    if not isinstance(result, tuple | list) or len(result) != 3:
        return f"it returned {describe_value(result)}; return a tuple of three floats."
    wrong_types = sorted({type(v).__name__ for v in result if type(v) is not float})
    if wrong_types:
        return (
            f"it returned {result!r}, with items of type {', '.join(wrong_types)}: "
            "return Python floats, for instance float(df_dx), also when x, y and z are ints."
        )
    return None


# -- numerical_gradient ------------------------------------------------------------------------
def numerical_gradient(f: Probe, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The exact gradient of the test function at x (autograd in float64), in x's dtype."""
    point = x.detach().to(torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(f(point), point)
    return grad.to(dtype=x.dtype)


def _differences(
    f: Probe, x: torch.Tensor, eps: float, slope: Callable[[float, float, float], float]
) -> list[float]:
    """``slope(f(x + eps e_i), f(x), f(x - eps e_i))`` for every entry i, as a student would."""
    point = x.detach().clone(memory_format=torch.contiguous_format)
    flat = point.view(-1)
    at_x = float(f(point))
    slopes = []
    for i in range(flat.numel()):
        original = flat[i].item()
        flat[i] = original + eps
        plus = float(f(point))
        flat[i] = original - eps
        minus = float(f(point))
        flat[i] = original
        slopes.append(slope(plus, at_x, minus))
    return slopes


def _like(slopes: list[float], x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(slopes, dtype=x.dtype, device=x.device).reshape(x.shape)


def numerical_gradient_forward(f: Probe, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mistake: the one-sided difference (f(x + eps) - f(x)) / eps."""
    return _like(_differences(f, x, eps, lambda p, c, m: (p - c) / eps), x)


def numerical_gradient_over_eps(f: Probe, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mistake: the central difference divided by eps instead of 2 eps."""
    return _like(_differences(f, x, eps, lambda p, c, m: (p - m) / eps), x)


def numerical_gradient_float32(f: Probe, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mistake: ``torch.tensor(slopes)`` without a dtype, which is float32."""
    slopes = _differences(f, x, eps, lambda p, c, m: (p - m) / (2 * eps))
    return torch.tensor(slopes, device=x.device).reshape(x.shape)


def _probe_inputs(
    name: str, shape: Sequence[int], generator: torch.Generator, dtype: torch.dtype
) -> Inputs:
    x = torch.randn(list(shape), generator=generator, dtype=torch.float64)
    return [Probe(name), x.to(dtype)], {}


def sin_cubic_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """sum(sin(x) x + x^3 / 3) at a random x of shape [3, 4]."""
    return _probe_inputs("sin_cubic", [3, 4], generator, dtype)


def sin_cubic_transposed_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """sin_cubic at a non-contiguous x of shape [3, 4], the transpose of a [4, 3] draw: code
    that perturbs x's own storage through x.view(-1) fails there, however exactly it restores
    each entry afterwards."""
    (probe, x), kwargs = _probe_inputs("sin_cubic", [4, 3], generator, dtype)
    return [probe, x.mT], kwargs


def logsumexp_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """logsumexp of all entries (couples them) at a random x of shape [2, 3, 2]."""
    return _probe_inputs("logsumexp", [2, 3, 2], generator, dtype)


def logsumexp_vector_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """logsumexp at a random vector of 7 entries."""
    return _probe_inputs("logsumexp", [7], generator, dtype)


def quadratic_scalar_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """The quadratic test function at a 0-dim x: the result must be 0-dim too."""
    return _probe_inputs("quadratic", [], generator, dtype)


# -- mlp2_loss_and_grads -----------------------------------------------------------------------
_NAMES = ("W1", "b1", "W2", "b2")


def mlp2_loss_and_grads(
    X: torch.Tensor,
    Y: torch.Tensor,
    W1: torch.Tensor,
    b1: torch.Tensor,
    W2: torch.Tensor,
    b2: torch.Tensor,
) -> tuple[torch.Tensor, Grads]:
    """Loss and parameter gradients of Linear, ReLU, Linear, MSE by torch autograd."""
    params = [p.detach().clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
    w1, c1, w2, c2 = params
    loss = F.mse_loss(F.linear(torch.relu(F.linear(X, w1, c1)), w2, c2), Y)
    grads = torch.autograd.grad(loss, params)
    return loss.detach(), dict(zip(_NAMES, grads, strict=True))


def _manual(
    doc: str,
    *,
    loss_scale: str = "nk",
    relu_at_zero: float = 0.0,
    transpose_dW2: bool = False,
    scalar_db1: bool = False,
    loss_item: bool = False,
) -> Callable[..., tuple[Any, Grads]]:
    """The notebook's manual backward pass, with switches that replay one mistake each."""

    def backward(*args: torch.Tensor) -> tuple[Any, Grads]:
        X, Y, W1, b1, W2, b2 = args
        A = X @ W1.T + b1
        H = A.clamp(min=0)
        diff = H @ W2.T + b2 - Y
        loss = (diff * diff).mean()
        count = diff.shape[0] if loss_scale == "n" else diff.numel()
        dY_hat = 2.0 * diff / count
        dW2 = H.T @ dY_hat if transpose_dW2 else dY_hat.T @ H
        dH = dY_hat @ W2
        slope = torch.where(A > 0, 1.0, torch.where(A == 0, relu_at_zero, 0.0)).to(A.dtype)
        dA = dH * slope
        db1 = dA.sum() if scalar_db1 else dA.sum(0)
        grads = {"W1": dA.T @ X, "b1": db1, "W2": dW2, "b2": dY_hat.sum(0)}
        return (float(loss.item()) if loss_item else loss), grads

    backward.__doc__ = doc
    return backward


mlp2_two_over_n = _manual(
    "Mistake: dL/dY_hat = 2 (Y_hat - Y) / n, as if the mean were over the rows only.",
    loss_scale="n",
)
mlp2_relu_at_zero_one = _manual(
    "Mistake: ReLU'(0) = 1 (A >= 0 instead of A > 0).", relu_at_zero=1.0
)
mlp2_dW2_transposed = _manual(
    "Mistake: dW2 = H^T dY_hat, shaped [h, k] instead of W2's [k, h].", transpose_dW2=True
)
mlp2_db1_scalar = _manual(
    "Mistake: db1 = dA.sum(), a sum over the hidden units too.", scalar_db1=True
)
mlp2_loss_item = _manual(
    "Mistake: the loss returned as a Python float (loss.item()).", loss_item=True
)


def _mlp2_parts(result: Any, keys: Sequence[str]) -> tuple[dict[str, Any] | None, str | None]:
    """The parts named by ``keys`` (``loss`` or a parameter name), or why they are unreadable."""
    if not isinstance(result, tuple | list) or len(result) != 2:
        return None, f"it returned {describe_value(result)}; return the pair (loss, grads)."
    loss, grads = result
    if any(key != "loss" for key in keys) and (
        not isinstance(grads, dict) or set(grads) != set(_NAMES)
    ):
        shown = f"a dict with keys {sorted(grads)}" if isinstance(grads, dict) else None
        return None, (
            f"grads should be a dict with keys {sorted(_NAMES)}, "
            f"but it is {shown or describe_value(grads)}."
        )
    return {key: loss if key == "loss" else grads[key] for key in keys}, None


def _label(key: str) -> str:
    return "the loss" if key == "loss" else f"grads[{key!r}]"


def _compare_parts(expected: dict[str, Any], got: dict[str, Any], dtype: torch.dtype) -> Comparison:
    tolerance = default_tolerance(dtype)
    for key, wanted in expected.items():
        if isinstance(wanted, float):
            # Only a mistake answers with a Python float (loss.item()): the same float matches.
            value = got[key]
            if not isinstance(value, float) or abs(value - wanted) > 1e-5 * (1 + abs(wanted)):
                return Comparison(False, f"{_label(key)} is not {wanted!r}.")
            continue
        verdict = compare(wanted.detach().cpu(), got[key], tolerance, what=_label(key))
        if not verdict.ok:
            return verdict
    return Comparison(True)


def _judge_mlp2(
    result: Any, args: Sequence[Any], keys: Sequence[str], expected: tuple[Any, Grads]
) -> Verdict:
    """The parts ``keys`` of the result against ``expected``: autograd's (loss, grads), or a
    replayed mistake's (see the checks' ``mistakes``)."""
    got, problem = _mlp2_parts(result, keys)
    if got is None:
        return problem, None
    right, _ = _mlp2_parts(expected, keys)
    assert right is not None
    verdict = _compare_parts(right, got, args[0].dtype)
    return None if verdict.ok else verdict.message


def mlp2_loss_judge(
    result: Any, args: Sequence[Any], kwargs: dict[str, Any], *, expected: tuple[Any, Grads]
) -> Verdict:
    """Judge: the loss only."""
    return _judge_mlp2(result, args, ["loss"], expected)


def mlp2_second_layer_judge(
    result: Any, args: Sequence[Any], kwargs: dict[str, Any], *, expected: tuple[Any, Grads]
) -> Verdict:
    """Judge: the gradients of W2 and b2."""
    return _judge_mlp2(result, args, ["W2", "b2"], expected)


def mlp2_first_layer_judge(
    result: Any, args: Sequence[Any], kwargs: dict[str, Any], *, expected: tuple[Any, Grads]
) -> Verdict:
    """Judge: the gradients of W1 and b1."""
    return _judge_mlp2(result, args, ["W1", "b1"], expected)


def mlp2_gradients_judge(
    result: Any, args: Sequence[Any], kwargs: dict[str, Any], *, expected: tuple[Any, Grads]
) -> Verdict:
    """Judge: the four gradients."""
    return _judge_mlp2(result, args, ["W2", "b2", "W1", "b1"], expected)


def _mlp2_random(
    generator: torch.Generator, dtype: torch.dtype, n: int, d: int, h: int, k: int
) -> Inputs:
    shapes = [(n, d), (n, k), (h, d), (h,), (k, h), (k,)]
    tensors = [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]
    return [t.to(dtype) for t in tensors], {}


def mlp2_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """X [6, 3], Y [6, 2], W1 [5, 3], b1 [5], W2 [2, 5], b2 [2], all randn.

    Every size differs, so a transposed gradient has the wrong shape, and k = 2 tells 2 / n
    from 2 / (n k).
    """
    return _mlp2_random(generator, dtype, n=6, d=3, h=5, k=2)


def mlp2_large_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """A wider problem: n = 32, d = 4, h = 16, k = 3."""
    return _mlp2_random(generator, dtype, n=32, d=4, h=16, k=3)


def mlp2_kink_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Small integer X, W1 and b1 so that A = X W1^T + b1 is exactly 0 at some entries.

    b1 cancels row 0 of X W1^T at hidden units 0, 2 and 4, and row 3 of X repeats row 0, so
    six entries of A are exactly 0 (integers are exact in float32 and float64). There
    ReLU'(0) = 0 keeps W1's and b1's gradients from receiving dH.
    """
    n, d, h, k = 6, 3, 5, 2
    X = torch.randint(-2, 3, (n, d), generator=generator).to(torch.float64)
    X[0] = torch.tensor([1.0, -2.0, 1.0], dtype=torch.float64)
    X[3] = X[0]
    W1 = torch.randint(-2, 3, (h, d), generator=generator).to(torch.float64)
    b1 = torch.randint(-2, 3, (h,), generator=generator).to(torch.float64)
    for unit in (0, 2, 4):
        b1[unit] = 0.0 - X[0] @ W1[unit]  # 0.0 - ...: no -0.0 in messages
    Y = torch.randn(n, k, generator=generator, dtype=torch.float64)
    W2 = torch.randn(k, h, generator=generator, dtype=torch.float64)
    b2 = torch.randn(k, generator=generator, dtype=torch.float64)
    return [t.to(dtype) for t in (X, Y, W1, b1, W2, b2)], {}
