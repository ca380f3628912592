"""Judged results: the student's function runs on generated inputs, a grader-side judge decides.

For answers with more than one right value (a random split, a trained model's weights) or whose
correctness is a property of the inputs (every row in exactly one part), a reference output to
compare with does not exist; a judge states what must hold. Where a right answer does exist
but the result is graded in parts, ``expected`` computes it from the inputs, so that the judge
only compares and a student release can replay it instead of shipping the code behind it.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from deepgrade.checks.base import (
    DTYPES,
    ArgumentsMixin,
    CheckContext,
    CheckOutcome,
    CheckSpec,
    DTypeName,
    both_dtypes,
    call_with,
    register_check,
    to_device,
)
from deepgrade.comparison import describe_value, has_nonfinite


@register_check
class JudgeCheck(ArgumentsMixin, CheckSpec):
    """``judge(result, args, kwargs)`` returns ``None`` when the result is right, else why not.

    With ``expected``, the judge is called as ``judge(result, args, kwargs, expected=value)``,
    where ``value`` is what that reference returns for the check's inputs, on the CPU. The
    reason is a string, followed by the check's ``hint`` when it has one, or a pair
    ``(reason, hint)`` whose hint (``None``: none) replaces the check's: the hint of a
    recognised mistake, or no hint for a result too malformed to compare.
    """

    kind: Literal["judge"] = "judge"
    judge: str = Field(description="lab:<name> of the grader-side judge.")
    expected: str | None = Field(
        None,
        description="lab:<name> called like the student's function, on the same inputs; what "
        "it returns (tensors, numbers, strings, lists, tuples, dicts) reaches the judge as "
        "``expected``. It never sees the student's result, so a student release replays it.",
    )
    dtypes: list[DTypeName] = Field(default_factory=both_dtypes)

    def run(self, ctx: CheckContext) -> CheckOutcome:
        judge = ctx.resolve(self.judge)
        for dtype_name in self.dtypes:
            args, kwargs = self.make_inputs(ctx, DTYPES[dtype_name])
            extra: dict[str, Any] = {}
            if self.expected is not None:
                value = ctx.run_reference(self.expected, call_with, (args, kwargs))
                # Replayed values come back on the CPU: live ones must look the same.
                extra["expected"] = to_device(value, torch.device("cpu"))
            result = ctx.call(self.call, args, kwargs)
            problem = _nonfinite_problem(result.value, extra) or judge(
                result.value, args, kwargs, **extra
            )
            if not problem:
                continue
            reason, hint = problem if isinstance(problem, tuple) else (problem, self.hint)
            where = self.describe_call(args, self.hidden, kwargs)
            return CheckOutcome(False, f"{where}: {reason}" + (f" Hint: {hint}" if hint else ""))
        return CheckOutcome(True)


def _nonfinite_problem(result: Any, extra: dict[str, Any]) -> tuple[str, None] | None:
    """A NaN or an infinity in a result whose right answer has none is wrong whatever the
    judge would make of it: a judge's ``abs(got - want) > tol`` is false for NaN."""
    if "expected" not in extra or not has_nonfinite(result):
        return None
    expected = extra["expected"]
    # Beside the answer, an expected value may carry what known mistakes give ({"value": ...,
    # "mistakes": [...]}): a mistake that overflows says nothing about the answer.
    if isinstance(expected, dict) and {"value", "mistakes"} <= set(expected):
        expected = expected["value"]
    if has_nonfinite(expected):
        return None
    return (
        f"it returned {describe_value(result)} holding NaN or infinity, where every value of "
        "the answer is finite.",
        None,
    )
