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
from deepgrade.model.spec import CheckDeclaration
from deepgrade.model.spec import register_check as register_check


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict of one check: passed or not, with an explanation when not.

    ``credit`` is the share of the check's weight earned (1 when passed, 0 when not, unless a
    check grades in tiers); ``series`` holds curves such as a loss history, for reports.
    """

    passed: bool
    message: str = ""
    credit: float | None = None
    series: Mapping[str, list[float]] = field(default_factory=dict)


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

    def failed(self, message: str, hint: str | None = None, *, on_values: bool) -> CheckOutcome:
        """An outcome that adds a hint (the given one, else this check's) to ``message``.

        Hints explain wrong values, so one is added only when the check failed ``on_values``:
        the code ran and returned a result of the right kind, shape, dtype and device whose
        values are wrong. Any other failure (a crash the check caught, a result of the wrong
        type or shape, a modified input) names its own cause, which a hint about the
        computation (a derivative, a constant factor) would only hide.
        """
        hint = (hint or self.hint) if on_values else None
        return CheckOutcome(False, message + (f" Hint: {hint}" if hint else ""))


def runnable(checks: Sequence[CheckDeclaration]) -> list[CheckSpec]:
    """An exercise's checks as the engine runs them: each kind must be a :class:`CheckSpec`."""
    for check in checks:
        if not isinstance(check, CheckSpec):
            raise SpecError(f"check kind {check.kind!r} does not subclass CheckSpec: it cannot run")
    return cast(list[CheckSpec], list(checks))
