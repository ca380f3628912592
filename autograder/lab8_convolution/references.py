"""Grader-side references for Lab 8 that PyTorch does not offer with the course's signature.

Checks name them as ``lab:<name>``: PyTorch's twin of ``SmallCNN``, the digits task, the
dropout judge and the known mistakes. This file runs in the grader only, never next to
student code, and is left out of student releases (their results are recorded instead; the
dropout judge alone ships, as it must see the student's output).
"""

import math
from typing import Any

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from deepgrade.engine.labkit import Verdict


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


# -- convolution: known mistakes ------------------------------------------------------------
def conv2d_flipped_kernel(
    x: torch.Tensor, weight: torch.Tensor, bias: Any = None, stride: Any = 1, padding: Any = 0
) -> torch.Tensor:
    """The mathematician's convolution: the kernel flipped in both directions."""
    return F.conv2d(x, weight.flip(2, 3), bias, stride, padding)


def conv2d_one_sided_padding(
    x: torch.Tensor, weight: torch.Tensor, bias: Any = None, stride: Any = 1, padding: Any = 0
) -> torch.Tensor:
    """All 2 p zeros after the image (below and right), none before it."""
    ph, pw = _pair(padding)
    return F.conv2d(F.pad(x, (0, 2 * pw, 0, 2 * ph)), weight, bias, stride)


def max_pool2d_stride_one(x: torch.Tensor, kernel_size: Any, stride: Any = None) -> torch.Tensor:
    """stride=None read as 1: overlapping windows."""
    return F.max_pool2d(x, kernel_size, 1 if stride is None else stride)


# -- the network ----------------------------------------------------------------------------
class _SmallCNN(nn.Module):
    """SmallCNN with PyTorch's layers, parameters in the notebook's order."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def small_cnn() -> nn.Module:
    """PyTorch's twin of the notebook's SmallCNN."""
    return _SmallCNN()


# -- the task -------------------------------------------------------------------------------
def digits_task(seed: int) -> dict[str, Any]:
    """``train_digits_cnn(seed)``; its test set is the 500 digits that the notebook's
    ``load_digits_split`` holds out (the last 500 of a permutation seeded with 0)."""
    digits = load_digits()
    X = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
    y = torch.tensor(digits.target, dtype=torch.int64)
    test = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))[1297:]
    return {"train": [seed], "test_inputs": X[test], "test_targets": y[test]}


# -- dropout --------------------------------------------------------------------------------
# Each call of the judge wrongly fails a correct dropout with probability at most this; the
# lab's dropout checks call it at most four times per grading (two checks of each file, two
# dtypes), so a correct submission loses points with probability below 1e-6 (union bound).
_FALSE_FAILURE = 2.5e-7


def dropout_judge(result: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> Verdict:
    """The output of Dropout(p) in training mode on ``args[0]`` (no zeros), and the input's
    gradient for ``grad_output = args[1]``: each element kept (scaled by 1/(1-p)) or zeroed,
    zeros in a fraction close to p, and the gradient through the same mask and scale.

    The fraction of zeros of n independent draws lies within t of p except with probability
    2 exp(-2 n t^2) (Hoeffding), so t = sqrt(log(2 / rate) / (2 n)).
    """
    x, grad_output = args
    p = float(kwargs.get("p", 0.5))
    out, grad = result.get("output"), result.get("input_grad")
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return f"the output should have the input's shape {tuple(x.shape)}, got {shape}."
    x64, out64 = x.double(), out.detach().cpu().double()
    kept = out64 != 0
    ratio = out64[kept] / x64[kept]
    scale = 1 / (1 - p)
    tolerance = 1e-5 if out.dtype == torch.float32 else 1e-12
    if ratio.numel() and (ratio - scale).abs().max() > tolerance * scale:
        seen = ratio[(ratio - scale).abs().argmax()]
        if abs(float(seen) - 1) < tolerance:
            return (
                f"kept elements are returned unscaled (x, not x / (1 - p) = {scale:.4g} x): "
                "without the 1/(1-p) scale the expected output is (1 - p) x."
            )
        return f"a kept element is x times {float(seen):.6g}, not x / (1 - p) = {scale:.6g} x."
    n = x.numel()
    dropped = 1 - float(kept.double().mean())
    margin = math.sqrt(math.log(2 / _FALSE_FAILURE) / (2 * n))
    if abs(dropped - p) > margin:
        return (
            f"{dropped:.4f} of the {n} elements are zero; with p = {p:g} the fraction of zeros "
            f"should lie within {margin:.4f} of p (each element dropped independently with "
            "probability p)."
        )
    if not isinstance(grad, torch.Tensor) or grad.shape != x.shape:
        return "backward through the output gives no gradient of the input's shape."
    wanted = grad_output.double() * kept.double() * scale
    if not torch.allclose(grad.detach().cpu().double(), wanted, rtol=tolerance, atol=0):
        return (
            "the gradient of the input is not grad_output times the same mask and scale as the "
            "output (draw the mask once per forward; autograd differentiates x * mask / (1 - p))."
        )
    return None
