"""Grader-side code for Lab 6: the reference loops, input and task builders, and the known
wrong optimisers, batchers and loops that the checks replay to recognise a mistake.

The optimisers themselves are graded against ``torch.optim.SGD`` and ``torch.optim.Adam``;
each mistake here is the notebook's optimiser, batcher, epoch or early stopping with one
switch flipped (a mistake is replayed on the same inputs, and the first one whose result
matches the student's supplies its hint). The loops (``train_epoch``, ``evaluate``, ``fit``)
follow the notebook's recipe to the letter, since the grader runs them through the same
harness as the student's, with ``torch.optim`` optimisers on a PyTorch MLP.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, TypeVar, cast

import torch
from torch import nn

from deepgrade.engine.labkit import Builder, Inputs

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batcher = Callable[..., Iterator[Batch]]
Epoch = Callable[[nn.Module, Iterable[Batch], LossFn, Any], float]
Fit = Callable[[nn.Module, list[Batch], list[Batch], LossFn, Any, int, int], dict[str, list[float]]]


# -- optimisers -------------------------------------------------------------------------------
class _Optimizer:
    """What the notebook's optimisers share: the parameters, ``lr`` read at every step, and a
    ``zero_grad()`` that clears each ``.grad``."""

    lr_at_init = False  # the rate read once, in the constructor

    def __init__(self, params: Iterable[torch.Tensor], lr: float) -> None:
        self.params = list(params)
        self.lr = lr
        self._initial_lr = lr

    @property
    def rate(self) -> float:
        """The learning rate this step uses."""
        return self._initial_lr if self.lr_at_init else self.lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class _SGD(_Optimizer):
    """SGD as the notebook writes it (= ``torch.optim.SGD``), with switches for one error each,
    constructed like the student's class, ``(params, lr, momentum=0.0, weight_decay=0.0)``."""

    dampening = False  # buffer = mu * buffer + (1 - mu) * g, from a zero buffer
    forget_weight_decay = False  # weight_decay accepted, never applied
    decay_after_momentum = False  # the buffer sums raw gradients; lambda * p added at the step
    reset_buffer = False  # a new buffer every step: momentum has no effect
    skipped_advance = False  # a parameter without .grad still moves along its buffer

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def step(self) -> None:
        lr = self.rate
        decay = 0.0 if self.forget_weight_decay else self.weight_decay
        with torch.no_grad():
            for i, p in enumerate(self.params):
                g = p.grad
                if g is None:
                    buffer = self.buffers[i]
                    if self.skipped_advance and self.momentum and buffer is not None:
                        buffer.mul_(self.momentum)
                        p.add_(buffer, alpha=-lr)
                    continue
                if decay and not self.decay_after_momentum:
                    g = g.add(p, alpha=decay)
                if self.momentum:
                    buffer = None if self.reset_buffer else self.buffers[i]
                    if self.dampening:
                        buffer = torch.zeros_like(p) if buffer is None else buffer
                        buffer.mul_(self.momentum).add_(g, alpha=1 - self.momentum)
                    elif buffer is None:
                        buffer = g.clone()
                    else:
                        buffer.mul_(self.momentum).add_(g)
                    self.buffers[i] = buffer
                    g = buffer
                if decay and self.decay_after_momentum:
                    g = g.add(p, alpha=decay)
                p.add_(g, alpha=-lr)


class _Adam(_Optimizer):
    """Adam as the notebook writes it (= ``torch.optim.Adam``), with switches for one error
    each, constructed like the student's class, ``(params, lr=1e-3, betas, eps)``."""

    bias_correction = True
    eps_inside_sqrt = False  # sqrt(v_hat + eps)
    frozen_count = False  # t stays 1: the bias correction of the first step, forever
    shared_count = False  # one t for all parameters, advanced once per step()
    in_place_correction = False  # m and v divided in place by the correction

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        self.betas = betas
        self.eps = eps
        self.steps = [0] * len(self.params)
        self.step_count = 0
        self.m: list[torch.Tensor | None] = [None] * len(self.params)
        self.v: list[torch.Tensor | None] = [None] * len(self.params)

    def step(self) -> None:
        beta1, beta2 = self.betas
        lr = self.rate
        self.step_count += 1
        with torch.no_grad():
            for i, p in enumerate(self.params):
                g = p.grad
                if g is None:
                    continue
                m, v = self.m[i], self.v[i]
                if m is None or v is None:
                    m, v = torch.zeros_like(p), torch.zeros_like(p)
                    self.m[i], self.v[i] = m, v
                self.steps[i] += 1
                t = self.step_count if self.shared_count else self.steps[i]
                if self.frozen_count:
                    t = 1
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if not self.bias_correction:
                    m_hat, v_hat = m, v
                elif self.in_place_correction:
                    m_hat = m.div_(1 - beta1**t)
                    v_hat = v.div_(1 - beta2**t)
                else:
                    m_hat = m / (1 - beta1**t)
                    v_hat = v / (1 - beta2**t)
                denominator = (v_hat + self.eps).sqrt() if self.eps_inside_sqrt else None
                if denominator is None:
                    denominator = v_hat.sqrt() + self.eps
                p.sub_(lr * m_hat / denominator)


_O = TypeVar("_O", bound=_Optimizer)


def _mistake(base: type[_O], doc: str, **switch: bool) -> type[_O]:
    """``base`` with one switch flipped: a mistake reference, constructed like ``base``."""
    (name,) = switch
    namespace = {"__doc__": doc, "__module__": __name__, **switch}
    return cast(type[_O], type(f"{base.__name__}[{name}]", (base,), namespace))


# Mistakes are named like the mistake functions of other labs (lab:<name>).
sgd_with_dampening = _mistake(
    _SGD,
    "Mistake: momentum as an average, ``b = mu b + (1 - mu) g`` from ``b = 0``.",
    dampening=True,
)
sgd_without_weight_decay = _mistake(
    _SGD,
    "Mistake: ``weight_decay`` stored but never added to the gradient.",
    forget_weight_decay=True,
)
sgd_weight_decay_after_momentum = _mistake(
    _SGD,
    "Mistake: the decay term added to the step, after the buffer (decoupled decay).",
    decay_after_momentum=True,
)
sgd_buffer_reset_each_step = _mistake(
    _SGD,
    "Mistake: the momentum buffer lives in ``step()``, so it starts afresh every step.",
    reset_buffer=True,
)
sgd_lr_read_once = _mistake(
    _SGD,
    "Mistake: the learning rate copied in ``__init__``; later changes of ``.lr`` ignored.",
    lr_at_init=True,
)
sgd_skipped_parameter_moves = _mistake(
    _SGD,
    "Mistake: a parameter whose ``.grad`` is None still decays its buffer and steps.",
    skipped_advance=True,
)
adam_without_bias_correction = _mistake(
    _Adam,
    "Mistake: ``m`` and ``v`` used as they are, without dividing by ``1 - beta^t``.",
    bias_correction=False,
)
adam_eps_inside_sqrt = _mistake(
    _Adam, "Mistake: ``sqrt(v_hat + eps)`` instead of ``sqrt(v_hat) + eps``.", eps_inside_sqrt=True
)
adam_count_not_incremented = _mistake(
    _Adam,
    "Mistake: the step count never advances, so every step is corrected as the first.",
    frozen_count=True,
)
adam_shared_count = _mistake(
    _Adam,
    "Mistake: one step count for the optimiser; a skipped parameter's count still advances.",
    shared_count=True,
)
adam_correction_in_place = _mistake(
    _Adam,
    "Mistake: ``m.div_(...)`` and ``v.div_(...)``: the correction overwrites the averages.",
    in_place_correction=True,
)
adam_lr_read_once = _mistake(
    _Adam,
    "Mistake: the learning rate copied in ``__init__``; later changes of ``.lr`` ignored.",
    lr_at_init=True,
)


# -- minibatches ------------------------------------------------------------------------------
def _order(n: int, shuffle: bool, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randperm(n, generator=generator) if shuffle else torch.arange(n)


def _batcher(
    doc: str,
    *,
    fixed_shuffle: bool | None = None,
    drop_last: bool = False,
    two_permutations: bool = False,
) -> Batcher:
    """The notebook's ``minibatches`` with switches for one error each: ``fixed_shuffle``
    ignores the caller's ``shuffle``, ``drop_last`` leaves out the last, smaller batch,
    ``two_permutations`` orders X and Y by two different draws."""

    def minibatches(
        X: torch.Tensor,
        Y: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
    ) -> Iterator[Batch]:
        n = X.shape[0]
        if fixed_shuffle is not None:
            shuffle = fixed_shuffle
        order_x = _order(n, shuffle, generator).to(X.device)
        order_y = _order(n, shuffle, generator).to(X.device) if two_permutations else order_x
        for start in range(0, n - n % batch_size if drop_last else n, batch_size):
            yield X[order_x[start : start + batch_size]], Y[order_y[start : start + batch_size]]

    minibatches.__doc__ = doc
    return minibatches


minibatches = _batcher(
    "The notebook's batches: consecutive slices of one ``randperm`` (or of 0..n-1)."
)
minibatches_dropping_last = _batcher(
    "Mistake: the last, smaller batch is left out (``range(n // batch_size)``).", drop_last=True
)
minibatches_two_permutations = _batcher(
    "Mistake: X and Y shuffled with two different permutations, so the pairs come apart.",
    two_permutations=True,
)
minibatches_never_shuffled = _batcher(
    "Mistake: ``shuffle`` ignored; the rows always come in their natural order.",
    fixed_shuffle=False,
)
minibatches_always_shuffled = _batcher(
    "Mistake: ``shuffle=False`` ignored; the rows are always permuted.", fixed_shuffle=True
)


def _batches_builder(n: int, batch_size: int, labels: bool = False) -> Builder:
    """``(X [n, 3], Y, batch_size)`` with ``generator=`` a fresh generator seeded from the check.

    ``Y`` is ``[n, 2]`` floats, or with ``labels`` class indices ``[n]`` (int64): the rows of
    any tensor must follow those of ``X``. Row ``i`` of ``X`` starts with ``i``, so a message
    showing a batch also shows which rows it holds.
    """

    def build(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
        X = torch.randn(n, 3, generator=generator, dtype=torch.float64)
        X[:, 0] = torch.arange(n, dtype=torch.float64)
        if labels:
            Y: torch.Tensor = torch.randint(0, 5, (n,), generator=generator)
        else:
            Y = torch.randn(n, 2, generator=generator, dtype=torch.float64).to(dtype)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        return [X.to(dtype), Y, batch_size], {"generator": torch.Generator().manual_seed(seed)}

    build.__doc__ = f"{n} rows in batches of {batch_size}" + (", integer labels" if labels else "")
    return build


batches_10_by_4 = _batches_builder(10, 4)
batches_7_by_3 = _batches_builder(7, 3)
batches_12_by_4 = _batches_builder(12, 4)
batches_23_by_5_labels = _batches_builder(23, 5, labels=True)
batches_6_by_8 = _batches_builder(6, 8)
batches_1_by_1 = _batches_builder(1, 1)


# -- loops ------------------------------------------------------------------------------------
def _epoch(
    doc: str,
    *,
    zero_grad: Literal["first", "after_backward", "never"] = "first",
    step_before_backward: bool = False,
) -> Epoch:
    """The notebook's epoch with switches for one error each: where ``zero_grad()`` runs (or
    that it never does), and ``step()`` before ``backward()``."""

    def train_epoch(
        model: nn.Module, batches: Iterable[Batch], loss_fn: LossFn, optimizer: Any
    ) -> float:
        model.train()
        total, count = 0.0, 0
        for xb, yb in batches:
            if zero_grad == "first":
                optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            if step_before_backward:
                optimizer.step()
            loss.backward()
            if zero_grad == "after_backward":
                optimizer.zero_grad()
            if not step_before_backward:
                optimizer.step()
            total += loss.item()
            count += 1
        return total / count if count else math.nan

    train_epoch.__doc__ = doc
    return train_epoch


train_epoch = _epoch(
    "The notebook's epoch: zero_grad, forward, loss, backward, step; the mean batch loss."
)
train_epoch_without_zero_grad = _epoch(
    "Mistake: no ``zero_grad()``, so each step uses the sum of all gradients so far.",
    zero_grad="never",
)
train_epoch_step_before_backward = _epoch(
    "Mistake: ``step()`` before ``backward()``: each step uses the previous batch's gradient.",
    step_before_backward=True,
)
train_epoch_zero_grad_after_backward = _epoch(
    "Mistake: ``zero_grad()`` between ``backward()`` and ``step()``: nothing ever moves.",
    zero_grad="after_backward",
)


def evaluate(model: nn.Module, batches: Iterable[Batch], loss_fn: LossFn) -> float:
    """The mean batch loss in evaluation mode, under ``torch.no_grad()``."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for xb, yb in batches:
            total += loss_fn(model(xb), yb).item()
            count += 1
    return total / count if count else math.nan


def fit_calls(
    record: Callable[[str, Any], None],
    model: nn.Module,
    train: list[Batch],
    val: list[Batch],
    loss_fn: LossFn,
    optimizer: Any,
    epochs: int,
    patience: int,
) -> None:
    """What ``fit`` calls, for every epoch it may run: ``train_epoch`` then ``evaluate``.

    The fit checks replace the student's ``train_epoch`` and ``evaluate`` with replays of
    these calls, so that ``fit`` is graded on its own logic, not on the other two exercises.
    """
    for _ in range(epochs):
        record(
            "train_epoch",
            train_epoch(model, train, loss_fn, optimizer),
            model,
            train,
            loss_fn,
            optimizer,
        )
        record("evaluate", evaluate(model, val, loss_fn), model, val, loss_fn)


def _early_stopping(doc: str, *, stop_at: int = 0, reset: bool = True) -> Fit:
    """The notebook's early stopping with switches for the counting mistakes: stop after
    ``patience + stop_at`` epochs without improvement; without ``reset`` the count goes on
    after an improvement."""

    def fit(
        model: nn.Module,
        train: list[Batch],
        val: list[Batch],
        loss_fn: LossFn,
        optimizer: Any,
        epochs: int,
        patience: int,
    ) -> dict[str, list[float]]:
        history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        best_loss, best_state, waited = math.inf, None, 0
        for _ in range(epochs):
            history["train_loss"].append(train_epoch(model, train, loss_fn, optimizer))
            val_loss = evaluate(model, val, loss_fn)
            history["val_loss"].append(val_loss)
            if val_loss < best_loss:
                best_loss = val_loss
                best_state = copy.deepcopy(model.state_dict())
                if reset:
                    waited = 0
            else:
                waited += 1
                if waited >= patience + stop_at:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        return history

    fit.__doc__ = doc
    return fit


fit = _early_stopping(
    "The notebook's early stopping: keep the strictly best validation epoch's weights, stop "
    "after ``patience`` epochs in a row without improvement, and load the best weights back."
)
fit_stops_one_epoch_late = _early_stopping(
    "Mistake: ``waited > patience``: one epoch more than ``patience`` without improvement.",
    stop_at=1,
)
fit_stops_one_epoch_early = _early_stopping(
    "Mistake: ``waited >= patience - 1`` (or counting the improving epoch as a wait).",
    stop_at=-1,
)
fit_without_reset = _early_stopping(
    "Mistake: the count of epochs without improvement is not reset when the loss improves.",
    reset=False,
)


# -- tasks ------------------------------------------------------------------------------------
Task = dict[str, Any]


def _affine(seed: int, n: int, dtype: torch.dtype, outputs: int = 4) -> Task:
    """Deck 000's map: ``n`` training inputs in [0, 100]^4 (exactly ``make_affine_data(n,
    seed)`` with 4 outputs), and 500 fresh inputs from the same distribution to test on."""
    generator = torch.Generator().manual_seed(seed)
    A = 2 * torch.rand(outputs, 4, generator=generator) - 1
    c = 100 * torch.rand(outputs, generator=generator) - 50
    X = 100 * torch.rand(n, 4, generator=generator)
    test = torch.Generator().manual_seed(10_000 + seed)
    X_test = 100 * torch.rand(500, 4, generator=test, dtype=torch.float64)
    A64, c64 = A.double(), c.double()
    return {
        "train": [X.to(dtype), (X.double() @ A64.T + c64).to(dtype)],
        "test_inputs": X_test.to(dtype),
        "test_targets": X_test @ A64.T + c64,
    }


def affine_task(seed: int) -> Task:
    """``train_affine(X, Y)`` on the notebook's default data: 1000 float32 samples."""
    return _affine(seed, 1000, torch.float32)


def affine_task_float64(seed: int) -> Task:
    """Another map, to 3 outputs (so that a layer built as nn.Linear(k, d) cannot fit), and
    400 samples, in float64."""
    return _affine(seed, 400, torch.float64, outputs=3)


def _sine_target(X: torch.Tensor) -> torch.Tensor:
    return torch.sin(math.pi * X[:, :1]) / (X[:, 1:2] ** 2 + 1)


def _sine(seed: int, n: int, dtype: torch.dtype) -> Task:
    """f(x1, x2) = sin(pi x1) / (x2^2 + 1) on ``make_sine_data(n, seed)``'s inputs; 1000
    fresh validation inputs uniform in [-1, 1]^2."""
    generator = torch.Generator().manual_seed(seed)
    X = 2 * torch.rand(n, 2, generator=generator) - 1
    test = torch.Generator().manual_seed(10_000 + seed)
    X_test = 2 * torch.rand(1000, 2, generator=test, dtype=torch.float64) - 1
    return {
        "train": [X.to(dtype), _sine_target(X.double()).to(dtype)],
        "test_inputs": X_test.to(dtype),
        "test_targets": _sine_target(X_test),
    }


def sine_task(seed: int) -> Task:
    """``train_sine(X, Y)`` on the notebook's default data: 2000 float32 samples."""
    return _sine(seed, 2000, torch.float32)


def sine_task_float64(seed: int) -> Task:
    """Another sample of 1000 points, in float64."""
    return _sine(seed, 1000, torch.float64)


_XOR_POINTS = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]


def _xor(repeat: int, dtype: torch.dtype) -> Task:
    """``make_xor_data(repeat)``; the test inputs are the four points in another order."""
    points = torch.tensor(_XOR_POINTS, dtype=torch.float64)
    labels = torch.tensor([[0.0], [1.0], [1.0], [0.0]], dtype=torch.float64)
    order = [3, 1, 0, 2]
    return {
        "train": [points.repeat(repeat, 1).to(dtype), labels.repeat(repeat, 1).to(dtype)],
        "test_inputs": points[order].to(dtype),
        "test_targets": labels[order],
    }


def xor_task(seed: int) -> Task:
    """``train_xor(X, Y)`` on ``make_xor_data()``: each point 25 times, float32 (no seed:
    the data are the four points)."""
    del seed
    return _xor(25, torch.float32)


def xor_task_float64(seed: int) -> Task:
    """Each point ``seed`` times (at least once; the check's seed is the repeat), in float64."""
    return _xor(max(seed, 1), torch.float64)
