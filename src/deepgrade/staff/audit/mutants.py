"""Mutants of a reference solution: small, named changes that model students' mistakes.

Only code inside ``### BEGIN SOLUTION`` / ``### END SOLUTION`` regions is mutated (the rest is
given to students). Each operator looks at one AST node and proposes replacements for its source
text; the mutant is the solution with that text replaced, so that its diff shows one change and
the rest of the file keeps its comments and layout. Everything here is deterministic: the same
solution gives the same mutants, with the same ids, in the same order.
"""

from __future__ import annotations

import ast
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"

Proposal = tuple[str, str]  # the replacement text of the node, and what it does
Operator = Callable[[ast.AST], list[tuple[ast.AST, Proposal]]]


@dataclass(frozen=True)
class Mutant:
    """One changed copy of the solution, owned by the exercise whose definition it changes."""

    id: str  # "<exercise>/<operator>-<hash>": stable while the changed code stays the same
    exercise: str
    operator: str
    line: int
    function: str  # where it is, as "Sigmoid.forward"
    original: str  # the source text it replaces
    replacement: str
    description: str
    source: str  # the whole mutated solution


# -- operators: each maps a node to (node whose text is replaced, (new text, description)) -------
_ARITH: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult,
    ast.MatMult: ast.Mult,
}
_COMPARE: dict[type[ast.cmpop], list[type[ast.cmpop]]] = {
    ast.Lt: [ast.LtE, ast.Gt],
    ast.LtE: [ast.Lt],
    ast.Gt: [ast.GtE, ast.Lt],
    ast.GtE: [ast.Gt],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
}
_REDUCTIONS = {
    "mean": "sum",
    "sum": "mean",
    "max": "min",
    "min": "max",
    "amax": "amin",
    "amin": "amax",
    "argmax": "argmin",
    "argmin": "argmax",
    "prod": "sum",
    "logsumexp": "amax",
}
_REDUCTION_KEYWORDS = ("dim", "axis", "keepdim", "keepdims")
_CLAMPS = frozenset(
    {"clamp", "clamp_", "clamp_min", "clamp_max", "clip", "maximum", "minimum", "abs"}
)


def _text(node: ast.AST) -> str:
    """``node`` as source, in parentheses unless it is atomic (it replaces text in place)."""
    text = ast.unparse(node)
    atomic = isinstance(node, ast.Name | ast.Attribute | ast.Call | ast.Subscript)
    if isinstance(node, ast.Constant) and not (
        isinstance(node.value, int | float) and node.value < 0
    ):
        atomic = True
    return text if atomic else f"({text})"


def _copy_with(node: ast.AST, **fields: object) -> ast.AST:
    new = type(node)(**{name: getattr(node, name) for name in node._fields})
    for name, value in fields.items():
        setattr(new, name, value)
    return new


def arith(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """An arithmetic operator swapped (+ and -, * and /, ** to *, @ to *)."""
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        new = _copy_with(node, op=_ARITH[type(node.op)]())
        return [(node, (_text(new), f"{type(node.op).__name__} -> {type(new.op).__name__}"))]  # type: ignore[attr-defined]
    if isinstance(node, ast.AugAssign) and type(node.op) in _ARITH:
        new = _copy_with(node, op=_ARITH[type(node.op)]())
        return [(node, (ast.unparse(new), "augmented operator swapped"))]
    return []


def compare(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """A comparison at a kink (> and >=) or reversed, and ``and``/``or`` swapped."""
    out: list[tuple[ast.AST, Proposal]] = []
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        for other in _COMPARE.get(type(node.ops[0]), []):
            new = _copy_with(node, ops=[other()])
            out.append((node, (_text(new), f"{type(node.ops[0]).__name__} -> {other.__name__}")))
    if isinstance(node, ast.BoolOp):
        new = _copy_with(node, op=ast.Or() if isinstance(node.op, ast.And) else ast.And())
        out.append((node, (_text(new), "and/or swapped")))
    return out


def sign(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """A minus sign dropped, or the operands of a subtraction reversed."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return [(node, (_text(node.operand), "minus sign dropped"))]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        new = _copy_with(node, left=node.right, right=node.left)
        return [(node, (_text(new), "a - b -> b - a"))]
    return []


def off_by_one(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """An integer (a size, an index, a slice bound, a dim) one more or one less."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [
            (node, (_text(ast.Constant(node.value + d)), f"{node.value} -> {node.value + d}"))
            for d in (1, -1)
        ]
    return []


def constant(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """A float constant halved or doubled (0.5, 2, eps...); True and False swapped."""
    if isinstance(node, ast.Constant) and type(node.value) is float:
        values = [1.0] if node.value == 0.0 else [node.value * 2, node.value / 2]
        return [(node, (_text(ast.Constant(v)), f"{node.value!r} -> {v!r}")) for v in values]
    if isinstance(node, ast.Constant) and type(node.value) is bool:
        return [(node, (str(not node.value), f"{node.value} -> {not node.value}"))]
    return []


def reduction(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """A reduction swapped (mean and sum, max and min...) or its dim or keepdim dropped."""
    if not isinstance(node, ast.Call):
        return []
    out: list[tuple[ast.AST, Proposal]] = []
    name = _called(node)
    if name in _REDUCTIONS and isinstance(node.func, ast.Attribute | ast.Name):
        if isinstance(node.func, ast.Attribute):
            func: ast.expr = _copy_with(node.func, attr=_REDUCTIONS[name])  # type: ignore[assignment]
        else:
            func = ast.Name(_REDUCTIONS[name], ast.Load())
        new = _copy_with(node, func=func)
        out.append((node, (_text(new), f"{name} -> {_REDUCTIONS[name]}")))
    for index, keyword in enumerate(node.keywords):
        if keyword.arg in _REDUCTION_KEYWORDS:
            kept = node.keywords[:index] + node.keywords[index + 1 :]
            new = _copy_with(node, keywords=kept)
            out.append((node, (_text(new), f"{keyword.arg}= dropped")))
    return out


def drop_term(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """One operand of a sum, difference, product or quotient dropped."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        return [
            (node, (_text(node.left), "right operand dropped")),
            (node, (_text(node.right), "left operand dropped")),
        ]
    return []


def swap_args(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """The first two positional arguments of a call swapped."""
    if isinstance(node, ast.Call) and len(node.args) >= 2:
        if any(isinstance(a, ast.Starred) for a in node.args[:2]):
            return []
        args = [node.args[1], node.args[0], *node.args[2:]]
        return [(node, (_text(_copy_with(node, args=args)), "first two arguments swapped"))]
    return []


def clamp(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """A clamp, clip, maximum, minimum or abs left out (the value passes through)."""
    if not isinstance(node, ast.Call) or _called(node) not in _CLAMPS:
        return []
    func = node.func
    if isinstance(func, ast.Attribute) and not _is_module(func.value):
        return [(node, (_text(func.value), f".{func.attr}() left out"))]
    if node.args and not isinstance(node.args[0], ast.Starred):
        return [(node, (_text(node.args[0]), f"{_called(node)}() left out"))]
    return []


def inplace(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """``x = x + y`` made in place (``x += y``), and a copy (``.clone()``) left out: a reused
    buffer."""
    if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.BinOp)
        and isinstance(node.value.left, ast.Name)
        and node.value.left.id == node.targets[0].id
    ):
        new = ast.AugAssign(node.targets[0], node.value.op, node.value.right)
        return [(node, (ast.unparse(new), "updated in place"))]
    if isinstance(node, ast.Call) and _called(node) in {"clone", "copy", "deepcopy"}:
        func = node.func
        if isinstance(func, ast.Attribute) and not _is_module(func.value) and not node.args:
            return [(node, (_text(func.value), f".{func.attr}() left out: a reused buffer"))]
        if node.args:
            return [(node, (_text(node.args[0]), f"{_called(node)}() left out: a reused buffer"))]
    return []


def detach(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """A computed result returned detached from the graph."""
    if isinstance(node, ast.Return) and isinstance(node.value, ast.Call | ast.BinOp):
        return [(node.value, (f"{_text(node.value)}.detach()", "returned detached"))]
    return []


def drop_statement(node: ast.AST) -> list[tuple[ast.AST, Proposal]]:
    """A call made for its effect (``zero_grad()``, ``backward()``, ``append``...) or an
    accumulation (``+=``) left out."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return [(node, ("pass", f"{_called(node.value) or 'call'}() left out"))]
    if isinstance(node, ast.AugAssign):
        return [(node, ("pass", "accumulation left out"))]
    return []


OPERATORS: dict[str, Operator] = {
    "arith": arith,
    "compare": compare,
    "sign": sign,
    "off_by_one": off_by_one,
    "constant": constant,
    "reduction": reduction,
    "drop_term": drop_term,
    "swap_args": swap_args,
    "clamp": clamp,
    "inplace": inplace,
    "detach": detach,
    "drop_statement": drop_statement,
}


def _called(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_module(node: ast.expr) -> bool:
    """``torch``, ``torch.nn.functional``, ``np``...: a call on it is a function, not a method."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in {"torch", "F", "np", "numpy", "math", "copy"}


# -- the solution's regions and their owners ----------------------------------------------------
def regions(source: str) -> list[tuple[int, int]]:
    """The 1-based line numbers of each region's markers (begin, end)."""
    found: list[tuple[int, int]] = []
    begin: int | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        if line.strip() == BEGIN:
            begin = number
        elif line.strip() == END and begin is not None:
            found.append((begin, number))
            begin = None
    return found


def _scopes(tree: ast.Module) -> Iterator[tuple[ast.AST, str, str]]:
    """Every node with the top-level name it is under and its innermost function's path."""

    def walk(node: ast.AST, top: str, path: str) -> Iterator[tuple[ast.AST, str, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = child.name
                yield child, top or name, path
                yield from walk(child, top or name, f"{path}.{name}" if path else name)
            elif not isinstance(child, ast.JoinedStr):  # an f-string: a message's text
                yield child, top, path
                yield from walk(child, top, path)

    return walk(tree, "", "")


def generate(
    source: str,
    owners: dict[str, str],
    *,
    operators: list[str] | None = None,
) -> list[Mutant]:
    """The mutants of ``source``, in the order of the file, grouped by exercise.

    ``owners`` maps a top-level name (a function or class of the solution) to the exercise that
    grades it; code under other names is not mutated. Mutants that give the same source as
    another (or as the solution) are left out.
    """
    tree = ast.parse(source)
    spans = regions(source)
    starts = _line_starts(source)
    raw = source.encode()
    chosen = {name: OPERATORS[name] for name in operators or OPERATORS}
    graphless = _graphless(tree)
    seen = {source}
    counts: dict[str, int] = {}
    by_exercise: dict[str, list[Mutant]] = {}
    for node, top, path in _scopes(tree):
        exercise = owners.get(top)
        if exercise is None or not _inside(node, spans):
            continue
        for op_name, operator in chosen.items():
            if op_name == "detach" and path in graphless:
                continue
            for target, (replacement, description) in operator(node):
                begin = starts[target.lineno - 1] + target.col_offset  # type: ignore[attr-defined]
                end = starts[target.end_lineno - 1] + target.end_col_offset  # type: ignore[attr-defined]
                original = raw[begin:end].decode()
                mutated = (raw[:begin] + replacement.encode() + raw[end:]).decode()
                if mutated in seen:
                    continue
                seen.add(mutated)
                key = f"{path}\0{original}\0{replacement}"
                counts[key] = counts.get(key, 0) + 1
                digest = hashlib.sha1(f"{key}\0{counts[key]}".encode()).hexdigest()[:8]
                by_exercise.setdefault(exercise, []).append(
                    Mutant(
                        id=f"{exercise}/{op_name}-{digest}",
                        exercise=exercise,
                        operator=op_name,
                        line=target.lineno,  # type: ignore[attr-defined]
                        function=path,
                        original=original,
                        replacement=replacement,
                        description=description,
                        source=mutated,
                    )
                )
    return [m for found in by_exercise.values() for m in found]


def sample(mutants: list[Mutant], max_per_exercise: int, seed: int = 0) -> list[Mutant]:
    """At most ``max_per_exercise`` of each exercise's mutants, drawn with ``seed``, in order."""
    by_exercise: dict[str, list[Mutant]] = {}
    for mutant in mutants:
        by_exercise.setdefault(mutant.exercise, []).append(mutant)
    kept: list[Mutant] = []
    for exercise, found in by_exercise.items():
        if len(found) > max_per_exercise:
            # Seeded per exercise: auditing one exercise draws what the whole lab's audit does.
            rng = random.Random(f"{seed}:{exercise}")
            keep = set(rng.sample(range(len(found)), max_per_exercise))
            found = [m for i, m in enumerate(found) if i in keep]
        kept += found
    return kept


def _graphless(tree: ast.Module) -> set[str]:
    """The paths of ``autograd.Function`` methods (their first argument is ``ctx``): they run
    without building a graph, so a detached result there is the very same result."""
    found: set[str] = set()
    for node, _, path in _scopes(tree):
        first = node.args.args[:1] if isinstance(node, ast.FunctionDef) else []
        if first and first[0].arg == "ctx":
            found.add(f"{path}.{node.name}" if path else node.name)  # type: ignore[attr-defined]
    return found


def _inside(node: ast.AST, spans: list[tuple[int, int]]) -> bool:
    first, last = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
    if first is None or last is None:
        return False
    return any(begin < first and last < end for begin, end in spans)


def _line_starts(source: str) -> list[int]:
    """The byte offset of each line (AST columns count UTF-8 bytes)."""
    starts = [0]
    for line in source.encode().splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts
