"""Grader-side references for Lab 9: recurrent networks.

Checks name them as ``lab:<name>``. This file runs in the grader only, never next to student
code, and is left out of student releases (their results are recorded instead). The cells are
graded against ``torch.nn.RNNCell`` and ``torch.nn.LSTMCell`` themselves; what is here wraps
``nn.RNN`` to the course's ``rnn_forward`` signature, builds the task's data, and makes the
known mistakes that the hints name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

# -- inputs of the module checks: a builder gets a seeded generator and the dtype, and returns
# the forward's (args, kwargs); an LSTM cell's state (h, c) is one argument, a tuple ------------
Inputs = tuple[list[Any], dict[str, Any]]


def _randn(
    generator: torch.Generator, dtype: torch.dtype, shape: list[int], scale: float = 1.0
) -> torch.Tensor:
    return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(dtype)


def rnn_cell_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [3, 4] and h [3, 5]."""
    return [_randn(generator, dtype, [3, 4]), _randn(generator, dtype, [3, 5])], {}


def rnn_cell_relu_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [2, 3] and h [2, 4]."""
    return [_randn(generator, dtype, [2, 3]), _randn(generator, dtype, [2, 4])], {}


def rnn_cell_x_alone(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [4, 3] and no h."""
    return [_randn(generator, dtype, [4, 3])], {}


def rnn_sequence(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [5, 2, 3] and h0 [2, 4]."""
    return [_randn(generator, dtype, [5, 2, 3]), _randn(generator, dtype, [2, 4])], {}


def rnn_sequence_relu(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [4, 3, 2] and h0 [3, 3]."""
    return [_randn(generator, dtype, [4, 3, 2]), _randn(generator, dtype, [3, 3])], {}


def rnn_sequence_long(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [12, 3, 2] and h0 [3, 5]."""
    return [_randn(generator, dtype, [12, 3, 2]), _randn(generator, dtype, [3, 5])], {}


def rnn_sequence_one_step(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [1, 4, 3] and h0 [4, 2]."""
    return [_randn(generator, dtype, [1, 4, 3]), _randn(generator, dtype, [4, 2])], {}


def _lstm_inputs(
    generator: torch.Generator,
    dtype: torch.dtype,
    n: int,
    d: int,
    h: int,
    scales: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Inputs:
    x = _randn(generator, dtype, [n, d], scales[0])
    state = (
        _randn(generator, dtype, [n, h], scales[1]),
        _randn(generator, dtype, [n, h], scales[2]),
    )
    return [x, state], {}


def lstm_cell_inputs(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [2, 3] and (h, c) [2, 4]."""
    return _lstm_inputs(generator, dtype, 2, 3, 4)


def lstm_cell_wide_c(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [4, 2] and (h, c) [4, 3] (c of scale 2)."""
    return _lstm_inputs(generator, dtype, 4, 2, 3, (1.0, 1.0, 2.0))


def lstm_cell_batch_of_8(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [8, 5] (scale 2) and (h, c) [8, 6] (c of scale 3)."""
    return _lstm_inputs(generator, dtype, 8, 5, 6, (2.0, 1.0, 3.0))


def lstm_cell_x_alone(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [2, 3] and no state."""
    return [_randn(generator, dtype, [2, 3])], {}


# -- rnn_forward --------------------------------------------------------------------------------


class UnrolledRNN(nn.Module):
    """``nn.RNN`` with the course's signature: ``forward(x, h0) -> (outputs, h_T)``, h0 ``[n, h]``.

    Its parameters (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``) have the
    order and shapes of an ``nn.RNNCell``'s, so the cell handed to ``rnn_forward`` is loaded with
    the same values.
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity)

    def forward(self, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, h_n = self.rnn(x, h0.unsqueeze(0))
        return outputs, h_n[0]


def unrolled_rnn(input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> UnrolledRNN:
    return UnrolledRNN(input_size, hidden_size, nonlinearity)


# -- clip_grad_norm: known mistakes (called like torch.nn.utils.clip_grad_norm_) ---------------


def _grads(parameters: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    return [p.grad for p in parameters if p.grad is not None]


def _global_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.sqrt(sum(((g.detach() ** 2).sum() for g in grads), torch.tensor(0.0)))


def clip_each_separately(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Each gradient clipped to max_norm on its own: the direction of the whole changes."""
    grads = _grads(parameters)
    total = _global_norm(grads)
    for g in grads:
        norm = torch.linalg.vector_norm(g)
        if norm > max_norm:
            g.mul_(max_norm / (norm + 1e-6))
    return total


def clip_always(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scaled by max_norm / norm even when the norm is below max_norm (the gradients grow)."""
    grads = _grads(parameters)
    total = _global_norm(grads)
    for g in grads:
        g.mul_(max_norm / (total + 1e-6))
    return total


def clip_returns_clipped_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Clips right but returns the norm after clipping instead of before."""
    grads = _grads(parameters)
    total = _global_norm(grads)
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / (total + 1e-6))
    return _global_norm(grads)


def clip_sum_of_norms(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """The global norm taken as the sum of the per-parameter norms, not the root of the sum of
    their squares."""
    grads = _grads(parameters)
    total = sum((torch.linalg.vector_norm(g) for g in grads), torch.tensor(0.0))
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / (total + 1e-6))
    return total


# -- the task ----------------------------------------------------------------------------------
Task = dict[str, Any]


def _series(length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The notebook's make_sine_series(length, seed), noisy as float32, and its clean sine."""
    generator = torch.Generator().manual_seed(seed)
    phase = 2 * math.pi * torch.rand((), generator=generator, dtype=torch.float64)
    clean = torch.sin(0.3 * torch.arange(length, dtype=torch.float64) + phase)
    noisy = clean + 0.1 * torch.randn(length, generator=generator, dtype=torch.float64)
    return noisy.float(), clean


def sine_task(seed: int) -> Task:
    """``train_sine_rnn(seed)``; 480 windows of 20 steps of a fresh noisy series, and the next
    value of the clean sine after each (the noise cannot be predicted)."""
    noisy, clean = _series(500, 10_000 + seed)
    steps = 20
    index = torch.arange(steps)[:, None] + torch.arange(noisy.shape[0] - steps)[None, :]
    return {
        "train": [seed],
        "test_inputs": noisy[index].unsqueeze(-1),
        "test_targets": clean[steps:].unsqueeze(-1),
    }
