"""Refused inputs: the student's function must raise a given exception on an invalid input."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CheckContext, StudentNotImplemented, StudentRaised
from deepgrade.engine.checks.inputs import DTYPES, ArgumentsMixin, DTypeName
from deepgrade.engine.comparison import describe_value


def _one_dtype() -> list[DTypeName]:
    """One call is enough to see an exception; a float input is built in float32."""
    return ["float32"]


@register_check
class RaisesCheck(ArgumentsMixin, CheckSpec):
    """The call raises ``exception`` (by class name) instead of returning a result.

    A stub's ``NotImplementedError`` still counts as not implemented, never as a wrong
    exception.
    """

    kind: Literal["raises"] = "raises"
    exception: str = Field(description="Name of the exception class, e.g. ValueError.")
    dtypes: list[DTypeName] = Field(default_factory=_one_dtype)

    def run(self, ctx: CheckContext) -> CheckOutcome:
        for dtype_name in self.dtypes:
            args, kwargs = self.make_inputs(ctx, DTYPES[dtype_name])
            where = self.describe_call(args, self.hidden, kwargs)
            try:
                result = ctx.call(self.call, args, kwargs)
            except StudentNotImplemented:
                raise
            except StudentRaised as raised:
                if raised.type_name == self.exception:
                    continue
                # Raising, and which exception, is what this check grades: its hint is about it.
                return self.failed(f"{where} raised {raised}, expected a {self.exception}.")
            return self.failed(
                f"{where} returned {describe_value(result.value)}, expected it to raise "
                f"a {self.exception}."
            )
        return CheckOutcome(True)
