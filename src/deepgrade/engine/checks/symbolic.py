"""Derivation questions: the student's sympy expression equals the grader's derivative."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CheckContext
from deepgrade.engine.comparison import describe_value
from deepgrade.engine.symbolic import ExpressionError, equivalent, rebuild
from deepgrade.sandbox.confined import Budget, OverBudget, run_confined
from deepgrade.sandbox.wire import SympyTree

# One positional argument of the call: a symbol's name, a list of names, or an integer.
Argument = str | int | list[str]


@register_check
class SymbolicCheck(CheckSpec):
    """``call(*symbols)`` returns an expression equivalent to ``diff(formula, variable)``.

    With ``arguments``, the call receives those instead of one symbol per name in ``symbols``:
    a list of names arrives as a list of symbols, an integer as itself (``f([z0, z1, z2], 1)``).
    With ``variables``, the answer is a list with the derivative for each of them, in order.
    With a list of formulas (a vector function, and ``variables``), the answer is its Jacobian:
    one such list per formula, in order.
    """

    kind: Literal["symbolic"] = "symbolic"
    call: str
    formula: str | list[str]
    variable: str = "x"
    symbols: list[str] = Field(default_factory=lambda: ["x"])
    arguments: list[Argument] | None = Field(
        None, description="Positional arguments when not one symbol per name in ``symbols``."
    )
    variables: list[str] | None = Field(
        None, description="Differentiate with respect to each: the answer is a list, in order."
    )
    domain: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Where numeric spot checks draw each symbol."
    )

    def run(self, ctx: CheckContext) -> CheckOutcome:
        import sympy

        table = {name: sympy.Symbol(name, real=True) for name in self.symbols}
        arguments: list[Argument] = (
            list(self.symbols) if self.arguments is None else list(self.arguments)
        )
        result = ctx.call(self.call, [_encode(a) for a in arguments], {})
        where = f"{self.call}({', '.join(_show(a) for a in arguments)})"
        if isinstance(self.formula, str):
            return self._gradient(result.value, self.formula, table, where)
        value = result.value
        if not isinstance(value, list | tuple) or len(value) != len(self.formula):
            return self.failed(
                f"{where} should return a list of {len(self.formula)} rows (one per output), "
                f"but it returned {describe_value(value)}."
            )
        for index, (row, formula) in enumerate(zip(value, self.formula, strict=True)):
            outcome = self._gradient(row, formula, table, f"{where}[{index}]")
            if not outcome.passed:
                return outcome
        return CheckOutcome(True)

    def _gradient(
        self, value: Any, formula: str, table: dict[str, Any], where: str
    ) -> CheckOutcome:
        """Is ``value`` the derivative of ``formula`` (the list of them, with ``variables``)?"""
        import sympy

        expression = sympy.parse_expr(formula, local_dict=table)
        if self.variables is None:
            return self._judge(value, expression, formula, self.variable, table, where)
        if not isinstance(value, list | tuple) or len(value) != len(self.variables):
            return self.failed(
                f"{where} should return a list of {len(self.variables)} sympy expressions "
                f"(one per variable), but it returned {describe_value(value)}."
            )
        for index, (item, variable) in enumerate(zip(value, self.variables, strict=True)):
            outcome = self._judge(item, expression, formula, variable, table, f"{where}[{index}]")
            if not outcome.passed:
                return outcome
        return CheckOutcome(True)

    def _judge(
        self,
        value: Any,
        expression: Any,
        formula: str,
        variable: str,
        table: dict[str, Any],
        where: str,
    ) -> CheckOutcome:
        """Is ``value`` (a reply) the derivative of ``expression`` with respect to ``variable``?"""
        import sympy

        expected = sympy.diff(expression, table[variable])
        if isinstance(value, int | float) and not isinstance(value, bool):
            # A plain number is an expression too (a derivative that is identically 0).
            kind = "integer" if isinstance(value, int) else "float"
            value = SympyTree({kind: str(value)})
        if not isinstance(value, SympyTree):
            return self.failed(
                f"{where} should return a sympy expression, but it returned "
                f"{describe_value(value)}."
            )
        try:
            # Rebuilding, comparing and printing the answer cost what the student makes them.
            verdict = run_confined(
                _verdict, value.tree, table, expected, self.domain, budget=ANSWER_BUDGET
            )
        except OverBudget as over:
            return self.failed(f"{where}: the answer is too costly to check: {over}.")
        if verdict["refused"]:
            return self.failed(f"{where}: {verdict['refused']}.")
        if verdict["ok"]:
            return CheckOutcome(True)
        wanted = f"d/d{variable} of {formula}"
        return self.failed(
            f"{where} returned {verdict['answer']}, which is not {wanted}: {verdict['reason']}."
        )


# What checking one answer may cost, far above what an honest answer does (well under 1 s).
ANSWER_BUDGET = Budget(cpu_seconds=5.0, memory_mb=1024)
# Characters of an answer shown in a message.
_SHOWN = 300


def _verdict(
    tree: Any, table: dict[str, Any], expected: Any, domain: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """The judgement of one answer, as JSON data: run in a confined child (see confined.py)."""
    try:
        answer = rebuild(tree, table)
    except ExpressionError as exc:
        return {"refused": str(exc), "ok": False}
    try:
        ok, reason = equivalent(answer, expected, list(table.values()), domain)
        shown = str(answer)
    except RecursionError:
        return {"refused": "the answer is nested too deeply to evaluate", "ok": False}
    except Exception as exc:
        # sympy fails in its own ways on expressions nobody would write (complex infinity has
        # no number; a function of a truth value has no attribute to evaluate): whatever it
        # raises here is about the answer the student built, so it is the answer that fails.
        return {"refused": f"the answer cannot be evaluated ({type(exc).__name__})", "ok": False}
    if len(shown) > _SHOWN:
        shown = f"{shown[:_SHOWN]}... ({len(shown)} characters)"
    return {"refused": "", "ok": ok, "reason": reason, "answer": shown}


def _encode(argument: Argument) -> Any:
    if isinstance(argument, str):
        return SympyTree({"symbol": argument})
    if isinstance(argument, list):
        return [SympyTree({"symbol": name}) for name in argument]
    return argument


def _show(argument: Argument) -> str:
    if isinstance(argument, list):
        return f"[{', '.join(argument)}]"
    return str(argument)
