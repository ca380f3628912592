"""Check kinds. Each module registers its kind; lab files refer to them by ``kind``."""

from deepgrade.checks import gradcheck, property, reference, symbolic, sympy_gradient
from deepgrade.checks.base import (
    CallResult,
    CheckContext,
    CheckOutcome,
    CheckSpec,
    StudentFailure,
    StudentForbidden,
    StudentNotImplemented,
    StudentRaised,
    StudentTimeout,
    TensorSpec,
    check_kinds,
    register_check,
)

__all__ = [
    "CallResult",
    "CheckContext",
    "CheckOutcome",
    "CheckSpec",
    "StudentFailure",
    "StudentForbidden",
    "StudentNotImplemented",
    "StudentRaised",
    "StudentTimeout",
    "TensorSpec",
    "check_kinds",
    "gradcheck",
    "property",
    "reference",
    "register_check",
    "symbolic",
    "sympy_gradient",
]
