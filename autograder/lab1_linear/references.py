"""Grader-side code for Lab 1 (linear models and gradient descent).

Everything here runs in the grader, never next to student code. It holds:

- references with the course's signatures (``least_squares`` on ``torch.linalg.lstsq``,
  ``mse`` on ``F.mse_loss``, ``mse_grad`` by autograd and by ``sympy.diff``, ``gd_step``,
  ``split``, ``fit_gd``), and ``least_squares_float64``, the fit that the fit judges compare
  with;
- input builders ``builder(generator, dtype) -> (args, kwargs)`` for arguments that are not
  plain random tensors (lists of parameters, data with row ids, planted affine maps);
- judges ``judge(result, args, kwargs) -> None | reason`` for answers graded by properties
  (a random split, a trained model) or in parts, and ``judge(..., expected=...)`` for those
  that compare with an answer: the ``expected`` reference's on the check's inputs, or a known
  mistake's. A student release records those answers and ships the judges as code, so a judge
  holds comparisons only, never a way to compute the answer;
- mistakes: functions with a reference's signature that make one known error; lab.toml pairs
  each with its hint, and the engine replays them on the check's inputs so that a student who
  made it gets the matching hint.

Plain torch and sympy, plus ``deepgrade.engine.labkit``'s types and comparison helpers for the
judges' messages. The builders draw from the check's seeded generator alone, so every input is
reproducible.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F

from deepgrade.engine.labkit import (
    Builder,
    Inputs,
    Tolerance,
    Verdict,
    compare,
    compare_tree,
    compare_values,
    default_tolerance,
    describe_value,
)

Pair = tuple[torch.Tensor, torch.Tensor]
Parts = tuple[Pair, Pair, Pair]
Solver = Callable[[torch.Tensor, torch.Tensor], Pair]
Splitter = Callable[..., Parts]
Fitted = tuple[torch.Tensor, torch.Tensor, list[float]]
Fitter = Callable[..., Fitted]


# -- predict ----------------------------------------------------------------------------------
def predict_untransposed(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mistake: ``X @ W + b``, which treats ``W`` as ``[d, k]`` (only runs when d = k)."""
    return X @ W + b


# -- least squares ----------------------------------------------------------------------------
def _with_ones(X: torch.Tensor, first: bool = False) -> torch.Tensor:
    ones = torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)
    return torch.cat([ones, X] if first else [X, ones], dim=1)


def _solver(
    doc: str, *, ones: Literal["last", "first"] | None = "last", transpose: bool = True
) -> Solver:
    """The contract's closed form with switches for one error each: the column of ones put
    ``first`` (the bias still read from the last row) or left out (``None``, b = 0), and the
    first d rows of the solution returned without ``transpose``."""

    def least_squares(X: torch.Tensor, Y: torch.Tensor) -> Pair:
        d = X.shape[1]
        A = X if ones is None else _with_ones(X, first=ones == "first")
        theta = torch.linalg.lstsq(A, Y).solution
        W = theta[:d].T if transpose else theta[:d]
        if ones is None:
            return W.contiguous(), torch.zeros(Y.shape[1], dtype=X.dtype, device=X.device)
        return W.contiguous(), theta[d].contiguous()

    least_squares.__doc__ = doc
    return least_squares


least_squares = _solver(
    "The contract's closed form: ``torch.linalg.lstsq`` on ``[X, 1]``, split into W and b."
)
least_squares_untransposed = _solver(
    "Mistake: returns the first d rows of the solution, ``W.T`` of shape [d, k], as W.",
    transpose=False,
)
least_squares_ones_first = _solver(
    "Mistake: the column of ones goes first, but the bias is read from the last row.",
    ones="first",
)
least_squares_without_bias = _solver(
    "Mistake: no column of ones, so the fit is forced through the origin and b = 0.", ones=None
)


@functools.cache
def _deck000_map() -> Pair:
    """A fixed 4x4 map and bias in the range of deck 000's (entries of M in [-1, 1])."""
    generator = torch.Generator().manual_seed(1)
    A = 2 * torch.rand(4, 4, generator=generator, dtype=torch.float64) - 1
    c = 40 * torch.rand(4, generator=generator, dtype=torch.float64) - 20
    return A, c


def deck000_data(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Deck 000's regression: 1000 inputs uniform in [0, 100)^4 through a 4x4 affine map.

    Inputs in the hundreds make the problem badly scaled, which is where a solve on the data
    (rather than an inverse of the normal matrix) matters in float32.
    """
    A, c = _deck000_map()
    X = 100 * torch.rand(1000, 4, generator=generator, dtype=torch.float64)
    Y = X @ A.T + c
    return [X.to(dtype), Y.to(dtype)], {}


def exactly_determined(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """n = d + 1 samples for d = 3: the affine fit interpolates every target exactly."""
    X = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    Y = torch.randn(4, 2, generator=generator, dtype=torch.float64)
    return [X.to(dtype), Y.to(dtype)], {}


# -- mse --------------------------------------------------------------------------------------
def mse(Y_hat: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """The contract's loss, ``F.mse_loss``: what ``mse_value`` compares with."""
    return F.mse_loss(Y_hat, Y)


def mse_over_samples(Y_hat: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mistake: the sum of squares divided by n (the rows) instead of n * k (all elements)."""
    return ((Y_hat - Y) ** 2).sum() / Y.shape[0]


def mse_sum(Y_hat: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mistake: the sum of squares, not their mean."""
    return ((Y_hat - Y) ** 2).sum()


def mse_item(Y_hat: torch.Tensor, Y: torch.Tensor) -> float:
    """Mistake: the right value, returned as a Python float with ``.item()``."""
    return float(((Y_hat - Y) ** 2).mean().item())


def mse_root(Y_hat: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mistake: the root of the mean square (RMSE)."""
    return ((Y_hat - Y) ** 2).mean().sqrt()


def mse_value(
    result: Any, args: list[Any], kwargs: dict[str, Any], *, expected: torch.Tensor | float
) -> Verdict:
    """The loss's value equals ``expected``, whatever the result's type: ``F.mse_loss``'s, or
    a replayed mistake's (see the checks' ``mistakes``).

    A Python float with the right value passes here: the type (a 0-dim tensor in the inputs'
    dtype) is the business of the reference checks, so a ``.item()`` costs those alone. A
    tensor ``expected`` is met to the tolerance of the inputs' dtype; a Python float (a mistake
    that answers with ``.item()``) to a relative 1e-5.
    """
    Y = args[1]
    if isinstance(result, torch.Tensor) and result.numel() == 1:
        value = float(result.detach().cpu().reshape(()))
    elif isinstance(result, int | float) and not isinstance(result, bool):
        value = float(result)
    else:
        got = describe_value(result)
        return f"mse should return one number (a 0-dim tensor), but it returned {got}."
    if not isinstance(expected, torch.Tensor):
        if math.isclose(expected, value, rel_tol=1e-5, abs_tol=1e-12):
            return None
        return f"the loss should be {expected:.8g}, got {value:.8g}."
    verdict = compare_values(
        expected, torch.tensor(value, dtype=torch.float64), default_tolerance(Y.dtype)
    )
    return None if verdict.ok else verdict.message


# -- mse_grad ---------------------------------------------------------------------------------
def mse_grad(X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> Pair:
    """The gradient of ``F.mse_loss(F.linear(X, W, b), Y)`` with respect to W and b, by autograd."""
    W_ = W.detach().clone().requires_grad_(True)
    b_ = b.detach().clone().requires_grad_(True)
    loss = F.mse_loss(F.linear(X, W_, b_), Y)
    dW, db = torch.autograd.grad(loss, [W_, b_])
    return dW, db


@functools.cache
def _scalar_mse_derivatives() -> Callable[..., list[float]]:
    """d/dw and d/db of (w x + b - y)^2 by ``sympy.diff``, lambdified to plain floats."""
    import sympy

    w, x, b, y = sympy.symbols("w x b y", real=True)
    loss = (w * x + b - y) ** 2
    derivatives = [sympy.diff(loss, w), sympy.diff(loss, b)]
    function: Callable[..., list[float]] = sympy.lambdify((w, x, b, y), derivatives, "math")
    return function


def mse_grad_sympy(X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> Pair:
    """The scalar case n = d = k = 1 from the grader's own symbolic derivation.

    With one sample, one input and one output the loss is (w x + b - y)^2 and the mean is over
    one element, so ``sympy.diff`` of that expression is the whole answer.
    """
    if X.shape != (1, 1) or Y.shape != (1, 1) or W.shape != (1, 1) or b.shape != (1,):
        raise ValueError("mse_grad_sympy covers one sample, one input and one output only")
    dw, db = _scalar_mse_derivatives()(W.item(), X.item(), b.item(), Y.item())
    dW = torch.tensor([[dw]], dtype=X.dtype, device=X.device)
    return dW, torch.tensor([db], dtype=X.dtype, device=X.device)


def _residual_grads(X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> Pair:
    """The correct dW, db written out (the base of the mistakes below)."""
    R = X @ W.T + b - Y
    scale = 2.0 / R.numel()
    return scale * (R.T @ X), scale * R.sum(dim=0)


def mse_grad_over_samples(
    X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> Pair:
    """Mistake: N = n instead of n * k, so both gradients are k times too large."""
    dW, db = _residual_grads(X, Y, W, b)
    k = Y.shape[1]
    return k * dW, k * db


def mse_grad_sign_flipped(
    X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> Pair:
    """Mistake: residuals taken as Y - Y_hat, which flips the sign of both gradients."""
    dW, db = _residual_grads(X, Y, W, b)
    return -dW, -db


def mse_grad_without_two(
    X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> Pair:
    """Mistake: the derivative of r^2 taken as r (the factor 2 forgotten)."""
    dW, db = _residual_grads(X, Y, W, b)
    return dW / 2, db / 2


def mse_grad_transposed(X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> Pair:
    """Mistake: dW computed as X^T R, of shape [d, k] (only matches W's shape when d = k)."""
    dW, db = _residual_grads(X, Y, W, b)
    return dW.T, db


def mse_grad_scalar_db(X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> Pair:
    """Mistake: db summed over every element, a scalar instead of one entry per output."""
    dW, _ = _residual_grads(X, Y, W, b)
    R = X @ W.T + b - Y
    return dW, 2.0 / R.numel() * R.sum()


def _gradient_judge(index: int) -> Callable[..., Verdict]:
    name = ("dW", "db")[index]

    def judge(result: Any, args: list[Any], kwargs: dict[str, Any], *, expected: Pair) -> Verdict:
        if not isinstance(result, tuple | list) or len(result) != 2:
            return f"mse_grad should return (dW, db), but it returned {describe_value(result)}."
        tolerance = default_tolerance(args[0].dtype)
        verdict = compare(expected[index], result[index], tolerance, what=name)
        return None if verdict.ok else verdict.message

    judge.__doc__ = (
        f"{name} equals ``expected``'s: autograd's (dW, db), or a replayed mistake's (see the "
        "checks' ``mistakes``)."
    )
    return judge


mse_grad_dW = _gradient_judge(0)
mse_grad_db = _gradient_judge(1)


# -- gd_step ----------------------------------------------------------------------------------
def gd_step(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], lr: float) -> list[Any]:
    """One step of gradient descent on new tensors: ``[p - lr * g]`` in the same order."""
    return [p - lr * g for p, g in zip(params, grads, strict=True)]


def gd_step_ascent(
    params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], lr: float
) -> list[Any]:
    """Mistake: ``p + lr * g``, a step up the gradient."""
    return [p + lr * g for p, g in zip(params, grads, strict=True)]


def gd_step_without_lr(
    params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], lr: float
) -> list[Any]:
    """Mistake: the learning rate forgotten, ``p - g``."""
    return [p - g for p, g in zip(params, grads, strict=True)]


def _gd_builder(shapes: Sequence[Sequence[int]], lr: float) -> Builder:
    def build(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
        params = [torch.randn(tuple(s), generator=generator, dtype=torch.float64) for s in shapes]
        grads = [torch.randn(tuple(s), generator=generator, dtype=torch.float64) for s in shapes]
        return [[p.to(dtype) for p in params], [g.to(dtype) for g in grads], lr], {}

    build.__doc__ = f"Parameters of shapes {list(map(list, shapes))} with gradients, lr = {lr}."
    return build


gd_weight_and_bias = _gd_builder([[3, 2], [3]], 0.1)
gd_three_parameters = _gd_builder([[4], [2, 3], [1]], 0.5)
gd_many_parameters = _gd_builder([[5, 5], [5], [1, 1], [2, 3, 4]], 1e-3)
gd_scalar_parameter = _gd_builder([[]], 2.0)


# -- split ------------------------------------------------------------------------------------
def _split_builder(n: int, fractions: tuple[float, float, float] | None = None) -> Builder:
    """Data whose rows carry their index: X[:, 0] = Y[:, 0] = i, the other columns random."""

    def build(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
        ids = torch.arange(n, dtype=torch.float64).unsqueeze(1)
        X = torch.cat([ids, torch.randn(n, 2, generator=generator, dtype=torch.float64)], 1)
        Y = torch.cat([ids, torch.randn(n, 1, generator=generator, dtype=torch.float64)], 1)
        kwargs = {} if fractions is None else {"fractions": fractions}
        return [X.to(dtype), Y.to(dtype)], kwargs

    build.__doc__ = f"{n} rows tagged with their index; fractions {fractions or 'default'}."
    return build


split_rows_20 = _split_builder(20)
split_rows_10_uneven = _split_builder(10, (0.75, 0.15, 0.10))
split_rows_1 = _split_builder(1)
split_rows_101 = _split_builder(101, (0.5, 0.3, 0.2))
split_rows_all_train = _split_builder(7, (1.0, 0.0, 0.0))
split_rows_333 = _split_builder(333, (0.8, 0.1, 0.1))

_DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
_PART_NAMES = ("training", "validation", "test")


def _splitter(
    doc: str,
    *,
    size: Callable[[float], int] = math.floor,
    seed_ignored: bool = False,
    y_in_order: bool = False,
) -> Splitter:
    """The contract's split with switches for one error each: the part sizes by another
    ``size`` (``round``), the generator seeded with 0 whatever the seed (``seed_ignored``), and
    Y cut in its original order while X is permuted (``y_in_order``)."""

    def split(
        X: torch.Tensor,
        Y: torch.Tensor,
        fractions: tuple[float, float, float] = _DEFAULT_FRACTIONS,
        seed: int = 0,
    ) -> Parts:
        n = X.shape[0]
        generator = torch.Generator().manual_seed(0 if seed_ignored else seed)
        perm = torch.randperm(n, generator=generator).to(X.device)
        n_train, n_val = size(fractions[0] * n), size(fractions[1] * n)
        cuts = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None))
        train, val, test = ((X[perm[cut]], Y[cut] if y_in_order else Y[perm[cut]]) for cut in cuts)
        return train, val, test

    split.__doc__ = doc
    return split


split = _splitter(
    "The contract's split: rows of a seeded ``torch.randperm``, sizes ``floor(f * n)``."
)
split_seed_ignored = _splitter("Mistake: the generator is always seeded with 0.", seed_ignored=True)
split_rounded = _splitter("Mistake: sizes with ``round`` instead of ``math.floor``.", size=round)
split_y_unshuffled = _splitter(
    "Mistake: X is permuted but Y is cut in its original order, so the pairs break.",
    y_in_order=True,
)


def split_judge(result: Any, args: list[Any], kwargs: dict[str, Any]) -> str | None:
    """Properties of any correct split, whatever the permutation.

    Three (X, Y) parts; sizes floor(f0 * n), floor(f1 * n) and the rest; every row of the input
    in exactly one part; each part's Y rows belong to the same samples as its X rows. The
    builders tag row i with the value i in column 0 of both X and Y, which makes the last two
    properties readable.
    """
    X, Y = args[0], args[1]
    n = len(X)
    fractions = kwargs.get("fractions", _DEFAULT_FRACTIONS)
    if not isinstance(result, tuple | list) or len(result) != 3:
        return (
            f"expected three (X, Y) pairs (train, validation, test), got {describe_value(result)}."
        )
    sizes = [math.floor(fractions[0] * n), math.floor(fractions[1] * n)]
    sizes.append(n - sum(sizes))
    seen: list[int] = []
    for name, part, size, fraction in zip(_PART_NAMES, result, sizes, fractions, strict=True):
        if not isinstance(part, tuple | list) or len(part) != 2:
            return f"the {name} part should be a pair (X, Y), but it is {describe_value(part)}."
        Xp, Yp = part
        for what, got, full in (("X", Xp, X), ("Y", Yp, Y)):
            if not isinstance(got, torch.Tensor):
                return f"the {name} {what} should be a tensor, but it is {describe_value(got)}."
            if got.dim() != 2 or got.shape[1] != full.shape[1] or got.dtype != full.dtype:
                return (
                    f"the {name} {what} is {describe_value(got)}; expected rows of {what} "
                    f"(shape [m, {full.shape[1]}], dtype {str(full.dtype).removeprefix('torch.')})."
                )
        if Xp.shape[0] != Yp.shape[0]:
            return f"the {name} part has {Xp.shape[0]} rows of X but {Yp.shape[0]} rows of Y."
        if Xp.shape[0] != size:
            rule = (
                f"the rest, n - {sizes[0]} - {sizes[1]} = {size}"
                if name == "test"
                else f"floor({fraction:g} * {n}) = {size}"
            )
            return (
                f"the {name} part has {Xp.shape[0]} rows, expected {rule} "
                "(math.floor for training and validation, every remaining row to test)."
            )
        x_ids, y_ids = Xp[:, 0].cpu(), Yp[:, 0].cpu()
        if not torch.equal(x_ids, y_ids):
            row = int((x_ids != y_ids).nonzero()[0, 0])
            return (
                f"row {row} of the {name} part pairs sample {int(x_ids[row])}'s X with sample "
                f"{int(y_ids[row])}'s Y: index X and Y with the same rows of the permutation."
            )
        for i, sample in enumerate(x_ids.tolist()):
            original = X[int(sample)].cpu() if 0 <= sample < n else None
            if original is None or not torch.equal(Xp[i].cpu(), original):
                return f"row {i} of the {name} X is not a row of the input X."
        seen += [int(v) for v in x_ids.tolist()]
    counts = torch.bincount(torch.tensor(seen, dtype=torch.long), minlength=n)
    if bool((counts > 1).any()):
        twice = (counts > 1).nonzero().flatten().tolist()[:5]
        return f"samples {twice} appear in more than one part (or twice in one)."
    if bool((counts == 0).any()):
        lost = (counts == 0).nonzero().flatten().tolist()[:5]
        return f"samples {lost} are in no part: every row must land in exactly one part."
    return None


# -- fit_gd -----------------------------------------------------------------------------------
def _planted(n: int, d: int, k: int, noise: float) -> Builder:
    """A hidden affine map Y = X A^T + c (+ noise) on standard-normal inputs, as in deck 000."""

    def build(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
        A = torch.randn(k, d, generator=generator, dtype=torch.float64)
        c = torch.randn(k, generator=generator, dtype=torch.float64)
        X = torch.randn(n, d, generator=generator, dtype=torch.float64)
        Y = X @ A.T + c + noise * torch.randn(n, k, generator=generator, dtype=torch.float64)
        return [X.to(dtype), Y.to(dtype)], {}

    build.__doc__ = f"{n} samples of a random {k}x{d} affine map, noise {noise:g}."
    return build


planted_4x4 = _planted(1000, 4, 4, 0.0)
planted_4x4_noisy = _planted(1000, 4, 4, 0.5)
planted_3x5 = _planted(600, 5, 3, 0.0)
noisy_200 = _planted(200, 4, 4, 0.5)
small_problem = _planted(50, 3, 2, 0.3)
tiny_problem = _planted(7, 2, 3, 0.3)


def _fitter(
    doc: str, *, reseed: bool = False, drop_last: bool = False, full_batch: bool = False
) -> Fitter:
    """The contract's loop with switches for one known mistake of its minibatch loop each: a
    new generator seeded at every epoch (``reseed``), the last, smaller batch of each epoch
    skipped (``drop_last``), and ``batch_size`` ignored (``full_batch``)."""

    def fit_gd(
        X: torch.Tensor,
        Y: torch.Tensor,
        lr: float,
        epochs: int,
        batch_size: int | None = None,
        seed: int = 0,
    ) -> Fitted:
        n, d = X.shape
        k = Y.shape[1]
        W = torch.zeros(k, d, dtype=X.dtype, device=X.device)
        b = torch.zeros(k, dtype=X.dtype, device=X.device)
        g = torch.Generator().manual_seed(seed)
        history = []
        for _ in range(epochs):
            if batch_size is None or full_batch:
                dW, db = _residual_grads(X, Y, W, b)
                W, b = W - lr * dW, b - lr * db
            else:
                if reseed:
                    g = torch.Generator().manual_seed(seed)
                perm = torch.randperm(n, generator=g).to(X.device)
                stop = n - n % batch_size if drop_last else n
                for start in range(0, stop, batch_size):
                    idx = perm[start : start + batch_size]
                    dW, db = _residual_grads(X[idx], Y[idx], W, b)
                    W, b = W - lr * dW, b - lr * db
            history.append(((X @ W.T + b - Y) ** 2).mean().item())
        return W, b, history

    fit_gd.__doc__ = doc
    return fit_gd


fit_gd = _fitter(
    "The contract's loop: from zeros, one generator, a randperm per epoch, every batch kept."
)
fit_gd_reseeded = _fitter(
    "Mistake: a new generator seeded at every epoch, so every epoch draws the same permutation.",
    reseed=True,
)
fit_gd_drop_last = _fitter(
    "Mistake: the last, smaller batch of each epoch is skipped.", drop_last=True
)
fit_gd_full_batch = _fitter(
    "Mistake: ``batch_size`` ignored, one full-batch step per epoch.", full_batch=True
)


def _fit_result(result: Any, X: torch.Tensor, Y: torch.Tensor) -> tuple[Any, str | None]:
    """(W, b, history) after checking the types and shapes of W and b, else the problem."""
    if not isinstance(result, tuple | list) or len(result) != 3:
        return (
            None,
            f"fit_gd should return (W, b, history), but it returned {describe_value(result)}.",
        )
    W, b, history = result
    k, d = Y.shape[1], X.shape[1]
    for name, got, shape in (("W", W, [k, d]), ("b", b, [k])):
        if not isinstance(got, torch.Tensor):
            return None, f"{name} should be a tensor, but it is {describe_value(got)}."
        if list(got.shape) != shape or got.dtype != X.dtype:
            return None, (
                f"{name} is {describe_value(got)}; expected shape {shape}, dtype "
                f"{str(X.dtype).removeprefix('torch.')}."
            )
        if not bool(torch.isfinite(got).all()):
            return None, f"{name} contains NaN or infinity: gradient descent diverged."
    return (W, b, history), None


def _relative_error(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    estimate, truth = estimate.detach().cpu().double(), truth.detach().cpu().double()
    return float(torch.linalg.norm(estimate - truth) / torch.linalg.norm(truth))


def least_squares_float64(X: torch.Tensor, Y: torch.Tensor, **training: Any) -> Pair:
    """The float64 least-squares fit of the data, which the fit judges compare with (the
    training settings in ``training`` do not change it)."""
    return least_squares(X.detach().cpu().double(), Y.detach().cpu().double())


def _near_least_squares(doc: str, failure: str) -> Callable[..., Verdict]:
    """A judge: W and b within relative error 1e-3 of ``expected``, the float64
    least-squares fit of the data, else ``failure`` filled in with the errors of W and b."""

    def judge(result: Any, args: list[Any], kwargs: dict[str, Any], *, expected: Pair) -> Verdict:
        X, Y = args[0], args[1]
        fitted, problem = _fit_result(result, X, Y)
        if problem:
            return problem
        W_ls, b_ls = expected
        errors = {"W": _relative_error(fitted[0], W_ls), "b": _relative_error(fitted[1], b_ls)}
        if max(errors.values()) > 1e-3:
            return failure.format(**errors)
        return None

    judge.__doc__ = doc
    return judge


fit_recovers_planted_map = _near_least_squares(
    """W and b within relative error 1e-3 of the planted map A, c.

    The data are noise-free, so the planted map is the exact least-squares fit of the data:
    ``expected`` reads A and c back from the data with a float64 solve.
    """,
    "the planted map is not recovered: relative error of W {W:.2e}, of b {b:.2e} (at most "
    "1e-3 for both). Check the gradient's sign and scale, the update p - lr * g, and that "
    "every epoch makes its steps.",
)
fit_matches_least_squares = _near_least_squares(
    "With noisy targets, full-batch descent converges to the least-squares fit (1e-3).",
    "the result is not the least-squares fit: relative difference of W {W:.2e}, of b {b:.2e} "
    "(at most 1e-3 for both).",
)


def fit_history(result: Any, args: list[Any], kwargs: dict[str, Any]) -> str | None:
    """The history: one Python float per epoch, lower at the end than after the first epoch,
    and its last entry the MSE of the returned W and b on all of (X, Y)."""
    X, Y = args[0], args[1]
    fitted, problem = _fit_result(result, X, Y)
    if problem:
        return problem
    W, b, history = fitted
    epochs = int(kwargs["epochs"])
    if not isinstance(history, list | tuple):
        return f"history should be a list of floats, but it is {describe_value(history)}."
    if len(history) != epochs:
        return (
            f"history has {len(history)} entries for {epochs} epochs: append one value after "
            "each epoch (not after each step)."
        )
    for index, value in enumerate(history):
        if isinstance(value, torch.Tensor):
            return f"history[{index}] is a tensor: append loss.item(), a Python float."
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"history[{index}] should be a float, but it is {describe_value(value)}."
        if not math.isfinite(value):
            return f"history[{index}] is {value}: gradient descent diverged."
    if epochs > 1 and not history[-1] < history[0]:
        return (
            f"the loss did not decrease: {history[0]:.6g} after epoch 1, "
            f"{history[-1]:.6g} at the end."
        )
    X64, Y64 = X.detach().cpu().double(), Y.detach().cpu().double()
    final = float(((X64 @ W.cpu().double().T + b.cpu().double() - Y64) ** 2).mean())
    if not math.isclose(history[-1], final, rel_tol=1e-4, abs_tol=1e-9):
        return (
            f"the last history entry is {history[-1]:.8g}, but the MSE of the returned W and b "
            f"on all of (X, Y) is {final:.8g}: after each epoch record the loss on the whole data "
            "set, not on the last batch."
        )
    return None


def _fit_tolerance(dtype: torch.dtype) -> Tolerance:
    # A few dozen updates in float32 accumulate rounding that depends on the order of the sums.
    if dtype == torch.float32:
        return Tolerance(rtol=1e-5, atol=1e-5)
    return default_tolerance(dtype)


def fit_matches_reference(
    result: Any, args: list[Any], kwargs: dict[str, Any], *, expected: Fitted
) -> Verdict:
    """W and b after a short run equal ``expected``'s, step for step: the reference loop's, or
    a replayed mistake's (see the checks' ``mistakes``). The history is ``fit_history``'s
    business."""
    X, Y = args[0], args[1]
    fitted, problem = _fit_result(result, X, Y)
    if problem:
        return problem, None
    tolerance = _fit_tolerance(X.dtype)
    got = (fitted[0].cpu(), fitted[1].cpu())
    verdict = compare_tree((expected[0], expected[1]), got, tolerance, what="(W, b)")
    if verdict.ok:
        return None
    return verdict.message.replace("(W, b)[0]", "W").replace("(W, b)[1]", "b")
