"""What a lab's ``references.py`` may import from deepgrade: one public module for lab authors.

``references.py`` runs in the grader only. Its builders, judges and mistakes use these types and
helpers (see docs/checks.md); everything else in deepgrade is the engine's own business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from deepgrade.engine.comparison import (
    Comparison,
    Tolerance,
    compare,
    compare_tree,
    compare_values,
    default_tolerance,
    describe_value,
)
from deepgrade.sandbox.probes import Probe

Inputs = tuple[list[Any], dict[str, Any]]
"""What an input builder returns: the positional and keyword arguments of one call."""

Builder = Callable[[torch.Generator, torch.dtype], Inputs]
"""An input builder (``inputs = "lab:<name>"``): a seeded generator and a dtype in, inputs out."""

Verdict = str | tuple[str, str | None] | None
"""What a judge returns: ``None`` when the result is right, else the reason, or
``(reason, hint)`` whose hint (``None``: no hint) replaces the check's."""

__all__ = [
    "Builder",
    "Comparison",
    "Inputs",
    "Probe",
    "Tolerance",
    "Verdict",
    "compare",
    "compare_tree",
    "compare_values",
    "default_tolerance",
    "describe_value",
]
