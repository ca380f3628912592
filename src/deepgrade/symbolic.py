"""Student sympy expressions: rebuilt safely from data, and compared with the grader's."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from deepgrade._wire import MAX_SYMPY_NODES

# Far above any exponent a derivative needs (times the digits of a number raised to it), far
# below one whose exact power is out of reach.
_MAX_EXPONENT = 1000


class ExpressionError(ValueError):
    """The student's answer is not an expression the grader accepts."""


def _functions() -> dict[str, Any]:
    import sympy

    names = [
        "Add",
        "Mul",
        "Pow",
        "exp",
        "log",
        "sqrt",
        "tanh",
        "sinh",
        "cosh",
        "sech",
        "csch",
        "coth",
        "sin",
        "cos",
        "tan",
        "Abs",
        "sign",
        "Max",
        "Min",
        "Heaviside",
        "Piecewise",
        "StrictGreaterThan",
        "StrictLessThan",
        "GreaterThan",
        "LessThan",
    ]
    table = {name: getattr(sympy, name) for name in names}
    table["ExprCondPair"] = sympy.functions.elementary.piecewise.ExprCondPair
    constants = {
        "Half": sympy.S.Half,
        "One": sympy.S.One,
        "Zero": sympy.S.Zero,
        "NegativeOne": sympy.S.NegativeOne,
        "Exp1": sympy.E,
        "Pi": sympy.pi,
        "BooleanTrue": sympy.true,
        "BooleanFalse": sympy.false,
    }
    return table | {name: (lambda value=value: value) for name, value in constants.items()}


def rebuild(tree: Any, symbols: Mapping[str, Any]) -> Any:
    """Rebuild a sympy expression from the worker's data, allowing only whitelisted nodes."""
    import sympy

    functions = _functions()
    count = 0

    def build(node: Any) -> Any:
        nonlocal count
        count += 1
        if count > MAX_SYMPY_NODES:
            raise ExpressionError(f"the expression has more than {MAX_SYMPY_NODES} nodes")
        if not isinstance(node, dict):
            raise ExpressionError("malformed expression")
        if "symbol" in node:
            name = node["symbol"]
            if name not in symbols:
                raise ExpressionError(f"unknown symbol {name!r}; use only {sorted(symbols)}")
            return symbols[name]
        # Leaves are short texts of their kind: the wire checked them (see _wire.decode).
        if "integer" in node:
            return sympy.Integer(int(node["integer"]))
        if "rational" in node:
            p, q = node["rational"]
            return sympy.Rational(int(p), int(q))
        if "float" in node:
            return sympy.Float(node["float"])
        name = node.get("func")
        if name not in functions:
            raise ExpressionError(f"{name} is not allowed in an answer (write the derivative out)")
        args = [build(arg) for arg in node.get("args", [])]
        if name == "Pow" and len(args) == 2 and _too_large(*args):
            # sympy works out a power of numbers exactly: 10**(10**99) would never finish.
            raise ExpressionError(f"the exponent {str(args[1])[:40]} is too large")
        return functions[name](*args)

    try:
        return build(tree)
    except ExpressionError:
        raise
    except (TypeError, ValueError, RecursionError) as exc:
        raise ExpressionError(f"malformed expression ({type(exc).__name__})") from None


def _too_large(base: Any, exponent: Any) -> bool:
    """Whether ``base**exponent`` is out of reach: its exact value would have too many digits."""
    if not exponent.is_Number:
        return False
    if not base.is_Rational:
        return bool(abs(exponent) > _MAX_EXPONENT)
    digits = max(len(str(abs(base.p))), len(str(base.q)))
    return bool(abs(exponent) * digits > _MAX_EXPONENT)


def equivalent(
    answer: Any,
    expected: Any,
    symbols: Sequence[Any],
    domain: Mapping[str, tuple[float, float]],
    *,
    points: int = 24,
    seed: int = 0,
) -> tuple[bool, str]:
    """Is ``answer`` equal to ``expected``? Symbolically first, then at random points."""
    import sympy

    difference = answer - expected
    try:
        if sympy.simplify(difference) == 0:
            return True, "equal after simplification"
    except Exception:  # simplification gives up on some inputs; fall back to numbers
        pass
    rng = random.Random(seed)
    for _ in range(points):
        point = {s: rng.uniform(*domain.get(str(s), (-3.0, 3.0))) for s in symbols}
        want = complex(expected.evalf(30, subs=point))
        got = complex(answer.evalf(30, subs=point))
        if abs(got - want) > 1e-9 * max(1.0, abs(want)):
            where = ", ".join(f"{s} = {v:.4g}" for s, v in point.items())
            return (
                False,
                f"at {where} the answer is {got.real:.8g} but the derivative is {want.real:.8g}",
            )
    return True, "equal at every test point"
