"""Grader-side code for Lab 3 (loss functions): references, input builders and known mistakes.

Runs in the grader only. Builders have the signature ``builder(generator, dtype) -> (args,
kwargs)``; mistakes take the arguments of the check's reference and make one known error, so
that a student's result they reproduce earns the mistake's hint.
"""

from __future__ import annotations

import torch

from deepgrade.engine.labkit import Inputs


# -- references ---------------------------------------------------------------------------------
def zero_one_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The error rate of the argmax rule (ties go to the first maximal index), in logits' dtype."""
    return (logits.argmax(dim=1) != target).to(logits.dtype).mean()


def l1_penalty(params: list[torch.Tensor]) -> torch.Tensor:
    """Sum of |w| over every element of every tensor."""
    return torch.stack([w.abs().sum() for w in params]).sum()


def l2_penalty(params: list[torch.Tensor]) -> torch.Tensor:
    """Sum of w**2 over every element of every tensor (not halved, no square root)."""
    return torch.stack([(w * w).sum() for w in params]).sum()


# -- input builders -----------------------------------------------------------------------------
def _indices(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


def bce_hard_labels(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Probabilities in (0.01, 0.99) of shape [8, 3] against hard 0/1 labels."""
    p = 0.01 + 0.98 * torch.rand(8, 3, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 2, (8, 3), generator=generator).to(torch.float64)
    return [p.to(dtype), y.to(dtype)], {}


def ce_large_logits(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Logits of +-1e4: exp overflows unless each row's maximum is subtracted first."""
    logits = torch.tensor([[1e4, 0.0, -1e4], [9999.0, 1e4, 9998.5]], dtype=dtype)
    return [logits, _indices([0, 2])], {}


def ce_different_scales(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Rows whose maxima differ by 110: shifting by the batch's maximum underflows in float32.

    Without any shift the logits are still small enough not to overflow, so only the
    per-row shift decides this check.
    """
    logits = torch.tensor([[60.0, 59.0, 58.0], [-50.0, -51.0, -49.5]], dtype=dtype)
    return [logits, _indices([1, 2])], {}


def ce_far_apart_rows(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Rows whose maxima differ by 800: the batch-maximum shift underflows even in float64."""
    logits = torch.tensor(
        [[700.0, 699.0, 698.5, 690.0], [-100.0, -99.0, -101.0, -100.5]], dtype=dtype
    )
    return [logits, _indices([2, 1])], {}


def one_hot_batch(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Class indices of shape [6] with K = 4 (some classes may be absent)."""
    return [_indices([2, 0, 3, 3, 1, 0]), 4], {}


def one_hot_matrix(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Class indices of shape [2, 3] with K = 5 (the result has shape [2, 3, 5])."""
    return [torch.randint(0, 5, (2, 3), generator=generator), 5], {}


def one_hot_many_classes(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """K = 1000, indices of shape [5] including the extremes 0 and 999."""
    target = torch.randint(0, 1000, (5,), generator=generator)
    target[0], target[-1] = 0, 999
    return [target, 1000], {}


def one_hot_index_too_large(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """An index equal to K (valid indices are 0 .. K-1)."""
    return [_indices([0, 2, 3, 1]), 3], {}


def one_hot_negative_index(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """A negative index."""
    return [_indices([1, -1, 0]), 3], {}


def one_hot_empty(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """No index at all: an empty [0, K] result, where checking the range must not fail."""
    return [_indices([]), 3], {}


def one_hot_single_out_of_range(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """One index, equal to K: a range check skipped for small targets lets it through."""
    return [_indices([3]), 3], {}


def zero_one_ties(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Rows with tied maxima: the prediction is the first maximal index (argmax)."""
    logits = torch.tensor([[1.0, 1.0, 0.0], [2.0, 0.0, 2.0], [0.0, 0.0, 0.0]], dtype=dtype)
    return [logits, _indices([1, 0, 0])], {}


def zero_one_batch(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Random logits [16, 5]; targets agree with the argmax in about half of the rows."""
    logits = torch.randn(16, 5, generator=generator, dtype=torch.float64)
    target = torch.randint(0, 5, (16,), generator=generator)
    keep = torch.rand(16, generator=generator) < 0.5
    target = torch.where(keep, logits.argmax(dim=1), target)
    return [logits.to(dtype), target], {}


def penalty_layers(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """The parameters of a small two-layer network: W1 [4, 3], b1 [4], W2 [2, 4], b2 [2]."""
    shapes = [(4, 3), (4,), (2, 4), (2,)]
    params = [torch.randn(s, generator=generator, dtype=torch.float64).to(dtype) for s in shapes]
    return [params], {}


def penalty_single(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """One tensor with exact zeros and negative entries."""
    w = torch.tensor([[0.0, -1.5, 2.0], [0.5, 0.0, -3.0]], dtype=dtype)
    return [[w]], {}


def penalty_mixed(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Tensors of several ranks, one of them 0-dim, with large and small values."""
    params = [
        3.0 * torch.randn(5, 2, 3, generator=generator, dtype=torch.float64),
        torch.tensor(-2.5, dtype=torch.float64),
        1e-3 * torch.randn(7, generator=generator, dtype=torch.float64),
        torch.randn(1, 6, generator=generator, dtype=torch.float64),
    ]
    return [[p.to(dtype) for p in params]], {}


# -- known mistakes -----------------------------------------------------------------------------
def l1_loss_sum(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The L1 loss summed instead of averaged."""
    return (y_hat - y).abs().sum()


def bce_without_clamp(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """BCE without clamping the logs: 0 * log(0) = nan at p = 0 or 1."""
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def bce_clamping_p(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """BCE with p clamped to [1e-7, 1 - 1e-7] (as some libraries do) instead of the logs."""
    q = p.clamp(1e-7, 1 - 1e-7)
    return -(y * torch.log(q) + (1 - y) * torch.log(1 - q)).mean()


def bce_with_logits_naive(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1 - y) z + log(1 + exp(-z)): exp(-z) overflows for very negative z."""
    return ((1 - y) * z + torch.log(1 + torch.exp(-z))).mean()


def cross_entropy_without_shift(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log-sum-exp without subtracting the maximum: exp overflows for large logits."""
    log_probs = logits - torch.log(torch.exp(logits).sum(dim=1, keepdim=True))
    return -log_probs.gather(1, target.unsqueeze(1)).mean()


def cross_entropy_global_max(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Shifting every row by the maximum of the whole batch: rows far below it underflow."""
    shifted = logits - logits.max()
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return -log_probs.gather(1, target.unsqueeze(1)).mean()


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The accuracy, 1 - the 0-1 loss."""
    return (logits.argmax(dim=1) == target).to(logits.dtype).mean()


def l1_penalty_mean(params: list[torch.Tensor]) -> torch.Tensor:
    """Mean of |w| per tensor, summed over tensors."""
    return torch.stack([w.abs().mean() for w in params]).sum()


def l2_penalty_halved(params: list[torch.Tensor]) -> torch.Tensor:
    """Half the sum of squares (the weight-decay convention, not this lab's)."""
    return 0.5 * l2_penalty(params)


def l2_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """The Euclidean norm, the square root of the sum of squares."""
    return torch.sqrt(l2_penalty(params))


def l2_penalty_mean(params: list[torch.Tensor]) -> torch.Tensor:
    """Mean of w**2 per tensor, summed over tensors."""
    return torch.stack([(w * w).mean() for w in params]).sum()
