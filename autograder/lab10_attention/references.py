"""Grader-side references for Lab 10 that PyTorch does not offer with the course's signature.

Checks name them as ``lab:<name>``. This file runs in the grader only, never next to student
code, and is left out of student releases (their results are recorded instead).
"""

import torch


def scale(x: torch.Tensor, factor: float = 2.0) -> torch.Tensor:
    """Every element of x times factor."""
    return x * factor


def scale_by_two(x: torch.Tensor, factor: float = 2.0) -> torch.Tensor:
    """A known mistake: the default factor, whatever the argument says."""
    return x * 2.0
