"""Judged results: the student's function runs on generated inputs, a grader-side judge decides.

For answers with more than one right value (a random split, a trained model's weights) or whose
correctness is a property of the inputs (every row in exactly one part), a reference output to
compare with does not exist; a judge states what must hold. Where a right answer does exist
but the result is graded in parts, ``expected`` computes it from the inputs, so that the judge
only compares and a student release can replay it instead of shipping the code behind it.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CheckContext, call_with
from deepgrade.engine.checks.inputs import DTYPES, ArgumentsMixin, DTypeName, both_dtypes, to_device
from deepgrade.engine.checks.mistakes import recognise
from deepgrade.engine.comparison import describe_value, has_nonfinite


class JudgedMistake(BaseModel):
    """A common wrong answer of a judged exercise: a grader-side function, called like
    ``expected``, that makes it, and the hint it earns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expected: str = Field(description="lab:<name>, called like the check's expected.")
    hint: str

    @property
    def reference(self) -> str:
        """What is replayed (see ``recognise``): the mistake's answer."""
        return self.expected


@register_check
class JudgeCheck(ArgumentsMixin, CheckSpec):
    """``judge(result, args, kwargs)`` returns ``None`` when the result is right, else why not.

    With ``expected``, the judge is called as ``judge(result, args, kwargs, expected=value)``,
    where ``value`` is what that reference returns for the check's inputs, on the CPU. The
    reason is a string, followed by the check's ``hint`` when it has one, or a pair
    ``(reason, hint)`` whose hint (``None``: none) replaces the check's: the hint of a
    recognised mistake, or no hint for a result too malformed to compare.

    With ``mistakes`` (and ``expected``), a failed result is judged again against each mistake's
    answer on the same inputs: the first that the judge accepts is the likely cause, and its hint
    replaces the others.
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
    mistakes: list[JudgedMistake] = Field(default_factory=list)

    @model_validator(mode="after")
    def _mistakes_need_expected(self) -> JudgeCheck:
        if self.mistakes and self.expected is None:
            raise ValueError("a judge's mistakes are answers to compare with: give 'expected'")
        return self

    def run(self, ctx: CheckContext) -> CheckOutcome:
        judge = ctx.resolve(self.judge)
        for dtype_name in self.dtypes:
            args, kwargs = self.make_inputs(ctx, DTYPES[dtype_name])
            extra: dict[str, Any] = {}
            if self.expected is not None:
                extra["expected"] = self._answer(ctx, self.expected, args, kwargs)
            result = ctx.call(self.call, args, kwargs)
            nonfinite = _nonfinite_problem(result.value, extra)
            problem = nonfinite or judge(result.value, args, kwargs, **extra)
            if not problem:
                continue
            reason, hint = problem if isinstance(problem, tuple) else (problem, self.hint)
            if nonfinite is None:
                # The first mistake whose answer the judge accepts is what the student computed.
                recognised = recognise(
                    ctx,
                    self.mistakes,
                    result.value,
                    call_with,
                    (args, kwargs),
                    functools.partial(_accepted, judge, args, kwargs),
                )
                hint = recognised or hint
            where = self.describe_call(args, self.hidden, kwargs)
            return CheckOutcome(False, f"{where}: {reason}" + (f" Hint: {hint}" if hint else ""))
        return CheckOutcome(True)

    @staticmethod
    def _answer(ctx: CheckContext, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return _on_cpu(ctx.run_reference(name, call_with, (args, kwargs)))


def _accepted(judge: Any, args: list[Any], kwargs: dict[str, Any], wrong: Any, got: Any) -> bool:
    """Whether the judge accepts the result ``got`` against a mistake's answer ``wrong``."""
    return not judge(got, args, kwargs, expected=_on_cpu(wrong))


def _on_cpu(value: Any) -> Any:
    # Replayed values come back on the CPU: live ones must look the same.
    return to_device(value, torch.device("cpu"))


def _nonfinite_problem(result: Any, extra: dict[str, Any]) -> tuple[str, None] | None:
    """A NaN or an infinity in a result whose right answer has none is wrong whatever the
    judge would make of it: a judge's ``abs(got - want) > tol`` is false for NaN."""
    if "expected" not in extra or not has_nonfinite(result):
        return None
    if has_nonfinite(extra["expected"]):
        return None
    return (
        f"it returned {describe_value(result)} holding NaN or infinity, where every value of "
        "the answer is finite.",
        None,
    )
