"""Grader-side references for Lab 2 that PyTorch does not offer with the course's signature."""

import torch


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """The perceptron's step, with heaviside(0) = 1 (COURSE.md)."""
    return torch.heaviside(x, torch.ones((), dtype=x.dtype, device=x.device))
