"""Random programs for a scalar autograd engine, checked against torch autograd in float64.

A program is a list of instructions (see ``drivers.run_program``). The check runs declared
programs and seeded random ones (reused nodes, every operator, deep chains) through the
student's class in the worker and through float64 torch scalars here, then compares the last
node's value and every leaf's gradient. When a program fails, each of its sub-expressions is
tried and the smallest failing one is reported, written out as an expression.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, Literal

import torch
from pydantic import Field

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, does_not_run, register_check
from deepgrade.engine.checks.context import CheckContext
from deepgrade.sandbox.worker.drivers import (
    BINARY,
    UNARY,
    WITH_CONSTANT,
    run_program,
    value_graph,
)

Program = list[list[Any]]
_ALL_OPERATORS = sorted({*BINARY, *WITH_CONSTANT, *UNARY})
_EXPONENTS = [2, 3, -1, 0.5, 1.5, -2]
_LIMIT = 1e3
# Sub-expressions tried when a program fails, and the longest expression written out.
_MAX_CANDIDATES = 48
_MAX_SHOWN = 600


@register_check
class ValueProgramCheck(CheckSpec):
    """Values and leaf gradients of expression graphs agree with torch autograd."""

    kind: Literal["value_program"] = "value_program"
    call: str = Field("Value", description="The student's scalar class.")
    programs: list[Program] = Field(default_factory=list, description="Declared programs.")
    random: int = Field(0, ge=0, description="How many random programs to add.")
    size: int = Field(10, ge=1, description="Operations per random program.")
    operators: list[str] = Field(default_factory=lambda: list(_ALL_OPERATORS))
    seed: int = 0
    chain: int = Field(
        0,
        ge=0,
        description="Add one chain of this many operations (an engine must not recurse once "
        "per node past Python's limit, nor lose a leaf used all along it).",
    )

    def run(self, ctx: CheckContext) -> CheckOutcome:
        programs = [*self.programs, *self._random_programs()]
        if self.chain:
            programs.append(_chain(self.chain))
        results = ctx.drive(value_graph, self.call, {"programs": programs})
        if not isinstance(results, list) or len(results) != len(programs):
            return self.failed("the driver received an unreadable reply.", explained=False)
        for program, got in zip(programs, results, strict=True):
            if _problem(program, got) is None:
                continue
            smallest, problem = self._smallest_failure(ctx, program)
            message = f"{self._describe(smallest)}: {problem}"
            # The check's hint is about the computation: no help for code that does not run.
            return self.failed(message, explained=not does_not_run(problem))
        return CheckOutcome(True)

    def _describe(self, program: Program) -> str:
        """The failing expression; for a hidden check only its operations, not its values."""
        operations = sorted({_operation(str(i[0])) for i in program if i[0] != "leaf"})
        if not self.hidden:
            text = _expression(program)
            if len(text) <= _MAX_SHOWN:
                return text
            # A chain of thousands of nodes: its length and operations say enough.
            count = len(program) - _leaf_count(program)
            return f"an expression of {count} operations built with {', '.join(operations)}"
        return f"a hidden expression built with {', '.join(operations) or 'leaves only'}"

    def _smallest_failure(self, ctx: CheckContext, program: Program) -> tuple[Program, str]:
        """The smallest failing sub-expression among a bounded sample of them: every one of a
        chain of n nodes would cost the worker and the reference O(n^2) operations."""
        candidates = [_sub_program(program, k) for k in _sample(_by_size(program))]
        results = ctx.drive(value_graph, self.call, {"programs": candidates})
        for candidate, got in zip(candidates, results, strict=False):
            problem = _problem(candidate, got)
            if problem is not None:
                return candidate, problem
        return program, str(_problem(program, None))

    def _random_programs(self) -> list[Program]:
        rng = random.Random(self.seed)
        return [_random_program(rng, self.size, self.operators) for _ in range(self.random)]


def _by_size(program: Program) -> list[int]:
    """Node indices, by the number of operations their sub-expression holds (fewest first)."""
    # Each node's dependencies as a bit set, built in one pass: cheap for thousands of nodes.
    needs: list[int] = []
    for k, instruction in enumerate(program):
        bits = 1 << k
        for operand in _operands(instruction):
            bits |= needs[operand]
        needs.append(bits)
    leaves = sum(1 << k for k, i in enumerate(program) if i[0] == "leaf")
    return sorted(range(len(program)), key=lambda k: (needs[k] & ~leaves).bit_count())


def _sample(nodes: list[int]) -> list[int]:
    """The first nodes, then others spread evenly up to the last (the whole program)."""
    if len(nodes) <= _MAX_CANDIDATES:
        return nodes
    half = _MAX_CANDIDATES // 2
    step = (len(nodes) - half) / half
    return [*nodes[:half], *(nodes[half + int(j * step)] for j in range(half - 1)), nodes[-1]]


def _reference(program: Program) -> tuple[float, list[float]]:
    def leaf(value: float) -> torch.Tensor:
        return torch.tensor(value, dtype=torch.float64, requires_grad=True)

    nodes = run_program(program, leaf)
    nodes[-1].backward()
    leaves = [n for n, i in zip(nodes, program, strict=True) if i[0] == "leaf"]
    return float(nodes[-1].detach()), [float(n.grad) if n.grad is not None else 0.0 for n in leaves]


def _problem(program: Program, got: Any) -> str | None:
    """Why the student's result for ``program`` is wrong, or ``None``."""
    value, grads = _reference(program)
    if not isinstance(got, dict):
        return "no result came back"
    if "error" in got:
        return f"building or differentiating it raised {got['error']}"
    got_value, got_grads = got.get("data"), got.get("grads")
    if not _close(value, got_value):
        return f"the value should be {value:.10g}, got {got_value!r}"
    names = _leaf_names(program)
    if not isinstance(got_grads, list) or len(got_grads) != len(grads):
        return "the leaves' gradients did not come back"
    for name, expected, actual in zip(names, grads, got_grads, strict=True):
        if not _close(expected, actual):
            reused = (
                " (a node used more than once must add up its gradients)"
                if _reuses(program)
                else ""
            )
            return f"d/d{name} should be {expected:.10g}, got {actual!r}{reused}"
    return None


def _close(expected: float, got: Any) -> bool:
    if not isinstance(got, int | float) or isinstance(got, bool):
        return False
    if math.isnan(expected):
        return math.isnan(got)
    return math.isclose(got, expected, rel_tol=1e-7, abs_tol=1e-9)


def _reuses(program: Program) -> bool:
    used = [operand for i in program if i[0] != "leaf" for operand in _operands(i)]
    return len(used) != len(set(used))


def _operands(instruction: Sequence[Any]) -> list[int]:
    op = instruction[0]
    if op in BINARY:
        return [int(instruction[1]), int(instruction[2])]
    if op in WITH_CONSTANT or op in UNARY:
        return [int(instruction[1])]
    return []


def _sub_program(program: Program, last: int) -> Program:
    """The instructions node ``last`` depends on, renumbered, ending with ``last``."""
    needed: set[int] = set()
    stack = [last]
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(_operands(program[node]))
    order = sorted(needed)
    new_index = {old: new for new, old in enumerate(order)}
    result = []
    for old in order:
        op, *rest = program[old]
        if op in BINARY:
            rest = [new_index[rest[0]], new_index[rest[1]]]
        elif op in WITH_CONSTANT:
            rest = [new_index[rest[0]], rest[1]]
        elif op in UNARY:
            rest = [new_index[rest[0]]]
        result.append([op, *rest])
    return result


def _leaf_names(program: Program) -> list[str]:
    count = sum(1 for i in program if i[0] == "leaf")
    return [chr(ord("a") + k) if k < 26 else f"x{k}" for k in range(count)]


_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_CONSTANT_FORMS = {
    "addc": "({0} + {1})",
    "subc": "({0} - {1})",
    "mulc": "({0} * {1})",
    "divc": "({0} / {1})",
    "pow": "({0} ** {1})",
    "radd": "({1} + {0})",
    "rsub": "({1} - {0})",
    "rmul": "({1} * {0})",
    "rdiv": "({1} / {0})",
}


def _operation(op: str) -> str:
    """An operation in general form: ``a * b``, ``(c - a)`` (c a number), ``a.exp()``."""
    if op in _SYMBOLS:
        return f"(a {_SYMBOLS[op]} b)"
    if op in _CONSTANT_FORMS:
        return _CONSTANT_FORMS[op].format("a", "c")
    return "(-a)" if op == "neg" else f"a.{op}()"


def _expression(program: Program) -> str:
    """The program written as a Python expression, with the leaves' values."""
    names = iter(_leaf_names(program))
    texts: list[str] = []
    leaves: list[str] = []
    for op, *rest in program:
        if op == "leaf":
            name = next(names)
            leaves.append(f"{name} = Value({rest[0]!r})")
            texts.append(name)
        elif op in BINARY:
            texts.append(f"({texts[rest[0]]} {_SYMBOLS[op]} {texts[rest[1]]})")
        elif op in WITH_CONSTANT:
            texts.append(_CONSTANT_FORMS[op].format(texts[rest[0]], rest[1]))
        elif op == "neg":
            texts.append(f"(-{texts[rest[0]]})")
        else:
            texts.append(f"{texts[rest[0]]}.{op}()")
    return f"with {', '.join(leaves)}, out = {texts[-1]}; out.backward()"


def _chain(length: int) -> Program:
    """A long chain that scales, shifts and now and then multiplies by a second leaf, 1.0: its
    values stay near the first leaf's and its gradients far from 0."""
    program: Program = [["leaf", 0.7], ["leaf", 1.0]]
    for k in range(length):
        last = len(program) - 1
        if k % 25 == 24:
            program.append(["mul", last, 1])
        else:
            program.append(["mulc", last, 1.0009] if k % 2 else ["subc", last, 0.0003])
    return program


def _random_program(rng: random.Random, size: int, operators: Sequence[str]) -> Program:
    """A program whose every intermediate value stays in a well-conditioned range."""
    program: Program = []
    values: list[float] = []
    for _ in range(rng.randint(2, 3)):
        value = round(rng.choice([-1, 1]) * rng.uniform(0.2, 2.0), 3)
        program.append(["leaf", value])
        values.append(value)
    for _ in range(100 * size):
        if len(program) - _leaf_count(program) >= size:
            break
        op = rng.choice(list(operators))
        # Prefer the newest node, which makes deep chains; any node may be reused.
        a = len(values) - 1 if rng.random() < 0.5 else rng.randrange(len(values))
        b = rng.randrange(len(values))
        instruction, value = _try(op, a, b, values, rng)
        if instruction is not None and abs(value) < _LIMIT and abs(value) > 1e-3:
            program.append(instruction)
            values.append(value)
    return program


def _leaf_count(program: Program) -> int:
    return sum(1 for i in program if i[0] == "leaf")


def _try(
    op: str, a: int, b: int, values: list[float], rng: random.Random
) -> tuple[list[Any] | None, float]:
    x, y = values[a], values[b]
    constant = round(rng.choice([-1, 1]) * rng.uniform(0.5, 3.0), 2)
    try:
        if op in BINARY:
            if op == "div" and abs(y) < 0.2:
                return None, 0.0
            return [op, a, b], float(BINARY[op](x, y))
        if op == "pow":
            exponent = rng.choice(_EXPONENTS)
            if (exponent != int(exponent) and x <= 0.1) or (exponent < 0 and abs(x) < 0.2):
                return None, 0.0
            return [op, a, exponent], float(x**exponent)
        if op in WITH_CONSTANT:
            if op == "rdiv" and abs(x) < 0.2:
                return None, 0.0
            return [op, a, constant], float(WITH_CONSTANT[op](x, constant))
        if op == "log" and x <= 0.1:
            return None, 0.0
        if op == "exp" and x > 5:
            return None, 0.0
        if op == "relu" and abs(x) < 1e-3:
            return None, 0.0
        scalar = torch.tensor(x, dtype=torch.float64)
        return [op, a], float(UNARY[op](scalar))
    except (OverflowError, ZeroDivisionError, ValueError):
        return None, 0.0
