"""Scalar test functions that the grader can hand to student code as arguments.

Functions cannot cross the process boundary, so an argument such as the ``f`` of
``numerical_gradient(f, x)`` travels as the name of one of these. Both processes hold the same
definitions: the worker calls them for the student, the grader differentiates them with
autograd. Imported by the worker, so torch is the only dependency.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    # Smooth, with curvature that differs from element to element.
    "sin_cubic": lambda x: (torch.sin(x) * x + x**3 / 3).sum(),
    # Couples every element, so a gradient computed for one element only is caught.
    "logsumexp": lambda x: torch.logsumexp(x.reshape(-1), dim=0),
    "quadratic": lambda x: 0.5 * (x * x).sum() + (x.reshape(-1)[0] * x.reshape(-1)[-1]),
}


class Probe:
    """A named test function; calling it evaluates the function."""

    def __init__(self, name: str) -> None:
        if name not in _FUNCTIONS:
            raise ValueError(f"unknown probe {name!r}; known: {', '.join(sorted(_FUNCTIONS))}")
        self.name = name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _FUNCTIONS[self.name](x)

    def __repr__(self) -> str:
        return f"<test function {self.name}>"

    # Equal by name: a probe that crossed the process boundary is a new object, and checks
    # that compare arguments before and after a call (``untouched``) must see it unchanged.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Probe) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)
