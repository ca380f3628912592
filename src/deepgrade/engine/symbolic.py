"""Student sympy expressions: rebuilt safely from data, and compared with the grader's."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from deepgrade.sandbox.wire import MAX_SYMPY_NODES

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
        # Leaves are short texts of their kind: the wire checked them (see sandbox.wire.decode).
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
        answer = build(tree)
    except ExpressionError:
        raise
    except (TypeError, ValueError, RecursionError) as exc:
        raise ExpressionError(f"malformed expression ({type(exc).__name__})") from None
    # Whitelisted nodes also build truth values, relations and condition pairs (they are the
    # parts of a Piecewise); only a number-valued expression is an answer.
    if not isinstance(answer, sympy.Expr):
        raise ExpressionError(f"the answer is a {type(answer).__name__}, not an expression")
    return answer


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
    """Is ``answer`` equal to ``expected`` wherever ``expected`` is defined?

    Numbers decide: at seeded random points and on both sides of every branch boundary of
    either expression (see ``probe_points``), the answer must be a finite real number where the
    reference is one, and equal to it. Simplification only excuses a numeric difference (a
    correct form whose evaluation loses digits), never an undefined value.
    """
    excused: bool | None = None  # whether the difference simplifies to 0, once asked
    for point in probe_points([answer, expected], symbols, domain, points=points, seed=seed):
        want = _evaluate(expected, point)
        if want is None:
            continue  # the reference itself is undefined here: nothing to compare
        got = _evaluate(answer, point)
        where = ", ".join(f"{s} = {float(v):.10g}" for s, v in point.items())
        if got is None:
            shown = str(answer.evalf(8, subs=point))[:60]
            return False, (
                f"at {where} the answer is undefined ({shown}) but the derivative is {_show(want)}"
            )
        if _close(got, want):
            continue
        if excused is None:
            excused = _simplifies_to_zero(answer - expected)
        if not excused:
            return (
                False,
                f"at {where} the answer is {_show(got)} but the derivative is {_show(want)}",
            )
    return True, "equal at every test point"


# Relative, in sympy's own floats: a derivative of 1e-435 is not 0, though Python's floats
# would round it there. An exact 0 leaves room for the residue of a 30-digit evaluation.
_RELATIVE = 1e-9
_ZERO = 1e-20
_DIGITS = 30
# Branch boundaries looked at per expression, and the grid that finds those of a condition
# that is not a polynomial: a sign change between neighbours is then narrowed by bisection.
_MAX_BOUNDARIES = 32
_MAX_DEGREE = 8
_GRID = sorted({0.0} | {sign * 10 ** (k / 4) for k in range(-12, 49) for sign in (-1, 1)})


# Digits evalf may work with to get a result's own digits through a cancellation: 1 - s with
# s = 1/(1 + exp(-1000)) needs about 435 (sympy's default stops at about 100 and answers a zero
# of unknown sign, a wrong verdict where the student's formula is right). The work stays within
# the confined evaluation's CPU budget.
_MAX_PRECISION = 1200


def _evaluate(expression: Any, point: Mapping[Any, float], digits: int = _DIGITS) -> Any:
    """``expression`` at ``point`` as a sympy number, or ``None`` where it is not a finite
    real number (NaN, a complex infinity, a complex value, a branch that does not cover it)."""
    import sympy

    # The values substituted exactly, then evaluated: evalf(subs=...) takes sympy's generic,
    # substitution-heavy path for functions such as tanh, about 25 times slower (6 s of CPU
    # for Lab 9's derivative through two tanh steps, over the check's budget). Rationals, not
    # Floats: a Float makes tanh(x) evaluate at once at its precision, so 1 - tanh(x)**2 at
    # x = 40 cancels to 0 and a wrong branch there passes; evalf of the exact expression
    # raises its precision until the result has its digits.
    exact = {symbol: sympy.Rational(value) for symbol, value in point.items()}
    try:
        value = expression.xreplace(exact).evalf(digits, maxn=_MAX_PRECISION)
    except (TypeError, ValueError, ArithmeticError):
        return None
    if not value.is_number or value.is_extended_real is not True or value.is_finite is not True:
        return None
    return value


def _close(got: Any, want: Any) -> bool:
    return bool(abs(got - want) <= (_RELATIVE * abs(want) if want != 0 else _ZERO))


def _show(value: Any) -> str:
    return str(value.evalf(8))


def _simplifies_to_zero(difference: Any) -> bool:
    import sympy

    try:
        return bool(sympy.simplify(difference) == 0)
    except Exception:  # simplification gives up on some inputs; the numbers stand
        return False


def probe_points(
    expressions: Sequence[Any],
    symbols: Sequence[Any],
    domain: Mapping[str, tuple[float, float]],
    *,
    points: int = 24,
    seed: int = 0,
) -> list[dict[Any, float]]:
    """Seeded random points, then points on both sides of each branch boundary.

    A boundary is where a ``Piecewise`` condition, or the argument of ``Heaviside``, ``Abs``,
    ``sign``, ``Max`` or ``Min``, changes sign, in any of ``expressions`` (the reference and the
    answer): so every branch of either is reached. A symbol with a declared domain stays in it;
    one without is drawn from (-3, 3), but its boundaries count wherever they lie.
    """
    rng = random.Random(seed)

    def draw() -> dict[Any, float]:
        return {s: rng.uniform(*domain.get(str(s), (-3.0, 3.0))) for s in symbols}

    found = [draw() for _ in range(points)]
    base = draw()
    for symbol in symbols:
        low, high = domain.get(str(symbol), (-float("inf"), float("inf")))
        others = {s: v for s, v in base.items() if s != symbol}
        for boundary in _boundaries(expressions, symbol, others):
            # Both sides, not the boundary itself, where conventions differ (Heaviside(0)).
            step = 1e-3 + 1e-6 * abs(boundary)
            for value in (boundary - step, boundary + step):
                if low <= value <= high:
                    found.append(base | {symbol: value})
    return found


def _boundaries(expressions: Sequence[Any], symbol: Any, others: Mapping[Any, float]) -> set[float]:
    """Where a condition of one of ``expressions`` changes, as a function of ``symbol``."""
    found: set[float] = set()
    for expression in expressions:
        conditions = [c for c in dict.fromkeys(_conditions(expression)) if c.has(symbol)]
        for condition in conditions[:_MAX_BOUNDARIES]:
            found |= _zeros(condition.subs(others), symbol)
    return found


def _conditions(expression: Any) -> list[Any]:
    """The expressions whose sign selects a branch: ``lhs - rhs`` of each relational, the
    argument of each ``Heaviside``, ``Abs`` and ``sign``, the differences of ``Max``/``Min``."""
    import sympy

    found: list[Any] = []
    for node in sympy.preorder_traversal(expression):
        if isinstance(node, sympy.core.relational.Relational):
            found.append(node.lhs - node.rhs)
        elif isinstance(node, sympy.Heaviside | sympy.Abs | sympy.sign):
            found.append(node.args[0])
        elif isinstance(node, sympy.Max | sympy.Min):
            found += [a - b for a, b in itertools.combinations(node.args, 2)]
    return found


def _zeros(function: Any, symbol: Any) -> set[float]:
    """Real zeros of ``function`` of one ``symbol``: a polynomial's roots, else the sign
    changes along a grid from -1e12 to 1e12, narrowed by bisection."""
    import sympy

    if function.is_polynomial(symbol):
        try:
            polynomial = sympy.Poly(function, symbol)
            if polynomial.degree() <= _MAX_DEGREE:
                roots = polynomial.nroots(n=15, maxsteps=100)
                return {float(sympy.re(r)) for r in roots if abs(sympy.im(r)) < 1e-9}
        except Exception:  # no roots found (a constant, no convergence): the grid decides
            pass

    def value(x: float) -> float | None:
        number = _evaluate(function, {symbol: x}, digits=15)
        return None if number is None else float(number)

    found: set[float] = set()
    previous: tuple[float, float] | None = None
    for x in _GRID:
        y = value(x)
        if y is None:
            previous = None
            continue
        if y == 0:
            found.add(x)
        elif previous is not None and (previous[1] < 0) != (y < 0):
            found.add(_bisect(value, previous[0], x, previous[1] < 0))
        previous = (x, y)
    return found


def _bisect(
    value: Callable[[float], float | None], low: float, high: float, negative_at_low: bool
) -> float:
    for _ in range(60):
        middle = (low + high) / 2
        y = value(middle)
        if y is None or y == 0:
            return middle
        if (y < 0) == negative_at_low:
            low = middle
        else:
            high = middle
    return (low + high) / 2
