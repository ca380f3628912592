"""Check kinds. Each module registers its kind; lab files refer to them by ``kind``."""

from deepgrade.engine.checks import (
    gradcheck,
    judge,
    module,
    outcome,
    property,
    raises,
    reference,
    symbolic,
    sympy_gradient,
    trajectory,
    value_program,
)
from deepgrade.engine.checks.base import CheckOutcome, CheckSpec
from deepgrade.engine.checks.context import (
    CallResult,
    CheckContext,
    StudentFailure,
    StudentForbidden,
    StudentNotImplemented,
    StudentRaised,
    StudentTimeout,
    StudentWrongGradient,
)
from deepgrade.engine.checks.inputs import TensorSpec
from deepgrade.engine.checks.mistakes import Mistake
from deepgrade.model.spec import check_kinds, register_check

__all__ = [
    "CallResult",
    "CheckContext",
    "CheckOutcome",
    "CheckSpec",
    "Mistake",
    "StudentFailure",
    "StudentForbidden",
    "StudentNotImplemented",
    "StudentRaised",
    "StudentTimeout",
    "StudentWrongGradient",
    "TensorSpec",
    "check_kinds",
    "gradcheck",
    "judge",
    "module",
    "outcome",
    "property",
    "raises",
    "reference",
    "register_check",
    "symbolic",
    "sympy_gradient",
    "trajectory",
    "value_program",
]
