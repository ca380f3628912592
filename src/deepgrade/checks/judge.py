"""Judged results: the student's function runs on generated inputs, a grader-side judge decides.

For answers with more than one right value (a random split, a trained model's weights) or whose
correctness is a property of the inputs (every row in exactly one part), a reference output to
compare with does not exist; a judge states what must hold.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from deepgrade.checks.base import (
    DTYPES,
    ArgumentsMixin,
    CheckContext,
    CheckOutcome,
    CheckSpec,
    DTypeName,
    both_dtypes,
    register_check,
)


@register_check
class JudgeCheck(ArgumentsMixin, CheckSpec):
    """``judge(result, args, kwargs)`` returns ``None`` when the result is right, else why not."""

    kind: Literal["judge"] = "judge"
    judge: str = Field(description="lab:<name> of the grader-side judge.")
    dtypes: list[DTypeName] = Field(default_factory=both_dtypes)

    def run(self, ctx: CheckContext) -> CheckOutcome:
        judge = ctx.resolve(self.judge)
        for dtype_name in self.dtypes:
            args, kwargs = self.make_inputs(ctx, DTYPES[dtype_name])
            result = ctx.call(self.call, args, kwargs)
            problem = judge(result.value, args, kwargs)
            if problem:
                return self.failed(f"{self.describe_call(args, self.hidden, kwargs)}: {problem}")
        return CheckOutcome(True)
