"""What every check kind shares: its class, its outcome, and which checks can run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import torch
from pydantic import Field

from deepgrade.engine.checks.context import CheckContext
from deepgrade.engine.checks.inputs import DTYPES, DTypeName
from deepgrade.engine.comparison import Tolerance, default_tolerance
from deepgrade.errors import SpecError
from deepgrade.model.results import TaskScore
from deepgrade.model.spec import CheckDeclaration
from deepgrade.model.spec import register_check as register_check


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict of one check: passed or not, with an explanation when not.

    ``credit`` is the share of the check's weight earned (1 when passed, 0 when not, unless a
    check grades in tiers); ``series`` holds curves such as a loss history, and ``task`` an
    outcome's metric against its tiers, for reports.
    """

    passed: bool
    message: str = ""
    credit: float | None = None
    series: Mapping[str, list[float]] = field(default_factory=dict)
    task: TaskScore | None = None


class CheckSpec(CheckDeclaration, ABC):
    """One declared check of an exercise, as the engine runs it. Subclasses add their fields and
    implement ``run``."""

    tolerances: dict[DTypeName, Tolerance] = Field(default_factory=dict)

    def tolerance(self, dtype: torch.dtype, device: torch.device) -> Tolerance:
        """The check's own tolerance for ``dtype`` (on every device), else the default for
        results of ``dtype`` computed on ``device``."""
        for name, override in self.tolerances.items():
            if DTYPES[name] == dtype:
                return override
        return default_tolerance(dtype, device)

    @abstractmethod
    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Run the check against the student's code reachable through ``ctx``."""

    def failed(
        self, message: str, hint: str | None = None, *, explained: bool = True
    ) -> CheckOutcome:
        """An outcome that adds a hint (the given one, else this check's) to ``message``.

        ``explained``: whether a hint can be the cause of this failure. It cannot where the
        code did not run as written (:func:`does_not_run`) or nothing came back to judge: a
        hint about the computation (a derivative, a known mistake) would only hide the real
        cause, which the message names.
        """
        hint = (hint or self.hint) if explained else None
        return CheckOutcome(False, message + (f" Hint: {hint}" if hint else ""))


# Errors of code that does not run as written (a misspelt name, a missing import, an operation
# on the wrong kind of object): a hint about what the code computes cannot explain them. An
# arithmetic error (an overflow) or a missing attribute may be the mistake a hint describes.
_DOES_NOT_RUN = (
    "NameError",
    "UnboundLocalError",
    "ImportError",
    "ModuleNotFoundError",
    "SyntaxError",
    "IndentationError",
    "TypeError",
)


def does_not_run(error: str) -> bool:
    """Whether ``error`` (``"TypeError: ..."``, or a sentence holding ``raised TypeError:``)
    says the code raised one of the errors that no hint explains."""
    return any(error.startswith(f"{e}:") or f"raised {e}:" in error for e in _DOES_NOT_RUN)


def runnable(checks: Sequence[CheckDeclaration]) -> list[CheckSpec]:
    """An exercise's checks as the engine runs them: each kind must be a :class:`CheckSpec`."""
    for check in checks:
        if not isinstance(check, CheckSpec):
            raise SpecError(f"check kind {check.kind!r} does not subclass CheckSpec: it cannot run")
    return cast(list[CheckSpec], list(checks))
