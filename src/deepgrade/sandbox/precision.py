"""Floating-point settings that the grader and the worker must share, or results would differ."""

from __future__ import annotations

import torch


def exact_float32() -> None:
    """Make CUDA compute float32 matrix products and convolutions in full float32.

    TensorFloat-32 rounds the inputs of matmul and convolutions to 10 bits of mantissa (a
    relative error near 1e-3) on Ampere and newer GPUs: a correct float32 answer would then
    differ from the reference by far more than any float32 tolerance, or, with a reference
    computed that way, a wrong one could pass. Called in the grader (references) and in the
    worker (student code) before CUDA work; setting the flags does not initialise CUDA.
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
