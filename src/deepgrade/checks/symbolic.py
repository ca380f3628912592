"""Derivation questions: the student's sympy expression equals the grader's derivative."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from deepgrade._wire import SympyTree
from deepgrade.checks.base import CheckContext, CheckOutcome, CheckSpec, register_check
from deepgrade.comparison import describe_value
from deepgrade.symbolic import ExpressionError, equivalent, rebuild


@register_check
class SymbolicCheck(CheckSpec):
    """``call(*symbols)`` returns an expression equivalent to ``diff(formula, variable)``."""

    kind: Literal["symbolic"] = "symbolic"
    call: str
    formula: str
    variable: str = "x"
    symbols: list[str] = Field(default_factory=lambda: ["x"])
    domain: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Where numeric spot checks draw each symbol."
    )

    def run(self, ctx: CheckContext) -> CheckOutcome:
        import sympy

        table = {name: sympy.Symbol(name, real=True) for name in self.symbols}
        expression = sympy.parse_expr(self.formula, local_dict=table)
        expected = sympy.diff(expression, table[self.variable])
        result = ctx.call(self.call, [SympyTree({"symbol": s}) for s in self.symbols], {})
        where = f"{self.call}({', '.join(self.symbols)})"
        if not isinstance(result.value, SympyTree):
            return self.failed(
                f"{where} should return a sympy expression, but it returned "
                f"{describe_value(result.value)}."
            )
        try:
            answer: Any = rebuild(result.value.tree, table)
        except ExpressionError as exc:
            return self.failed(f"{where}: {exc}.")
        ok, reason = equivalent(answer, expected, list(table.values()), self.domain)
        if ok:
            return CheckOutcome(True)
        wanted = f"d/d{self.variable} of {self.formula}"
        return self.failed(f"{where} returned {answer}, which is not {wanted}: {reason}.")
