"""Finding forbidden API calls, and tampering with the grading, by reading the student's source
(the grader's own reading)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """A call of a forbidden function inside a definition the exercise grades."""

    name: str
    scope: str
    line: int
    cell: int

    def __str__(self) -> str:
        return f"{self.name} called in {self.scope} (cell {self.cell + 1}, line {self.line})"


def scan(cells: Iterable[str], scopes: Iterable[str], forbidden: Iterable[str]) -> list[Finding]:
    """Calls of ``forbidden`` names inside the top-level definitions named in ``scopes``.

    ``obj.name(...)`` counts whatever ``obj`` is (``torch.sigmoid``, ``F.softplus``,
    ``x.sigmoid()``); a bare ``name(...)`` counts only where ``name`` was imported, so that a
    student's own function of the same name may still be called.
    """
    wanted, inside = set(forbidden), set(scopes)
    if not wanted or not inside:
        return []
    trees = []
    imported: set[str] = set()
    for index, source in enumerate(cells):
        tree = _parsed(source)
        if tree is None:
            continue
        trees.append((index, tree))
        imported |= _imported_names(source)
    findings = []
    for index, tree in trees:
        for top in tree.body:
            if isinstance(top, ast.FunctionDef | ast.ClassDef) and top.name in inside:
                findings += _calls_in(top, wanted, imported & wanted, index)
    return findings


@functools.lru_cache(maxsize=512)
def _imported_names(source: str) -> frozenset[str]:
    """The names a cell binds with ``from ... import``."""
    tree = _parsed(source)
    if tree is None:
        return frozenset()
    return frozenset(
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    )


@functools.lru_cache(maxsize=512)
def _parsed(source: str) -> ast.Module | None:
    """The syntax tree of one cell (read-only: it is shared), or ``None`` if it has none.

    A submission is scanned once for tampering and once per exercise: parsing it once saves
    most of that work, and cells that many submissions share (the handout's) are parsed once.
    """
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _calls_in(scope: ast.AST, wanted: set[str], bare: set[str], cell: int) -> list[Finding]:
    found = []
    scope_name = getattr(scope, "name", "?")
    for node in ast.walk(scope):
        name = None
        if isinstance(node, ast.Attribute) and node.attr in wanted:
            name = node.attr
        elif isinstance(node, ast.Name) and node.id in bare:
            name = node.id
        if name is not None:
            found.append(Finding(name, scope_name, getattr(node, "lineno", 0), cell))
    return found


# Names that only code tampering with the grading has a use for: PyTorch's switches for
# function modes (the worker's tripwire is one) and the worker's own internals. A student's
# answer never needs them, so naming one, even in a string, counts.
_TAMPERING = frozenset(
    {
        "DisableTorchFunction",
        "DisableTorchFunctionSubclass",
        "_DisableTorchFunction",
        "_DisableTorchFunctionSubclass",
        "_disable_torch_function",
        "_pop_mode",
        "_pop_mode_temporarily",
        "_push_mode",
        "_pop_torch_function_stack",
        "_push_on_torch_function_stack",
        "_set_torch_function_mode",
        "_Tripwire",
        "_ForbiddenCall",
        "REPLY_FD",
        "REQUEST_FD",
    }
)


# The worker's own package: a submission has no business naming it.
_WORKER_PACKAGE = "deepgrade.sandbox"


def _tampers(name: str) -> bool:
    return name in _TAMPERING or name == _WORKER_PACKAGE or name.startswith(_WORKER_PACKAGE + ".")


def tampering(cells: Iterable[str]) -> list[Finding]:
    """Uses of the grader's machinery anywhere in the submission, by name or in a string."""
    findings = []
    for index, source in enumerate(cells):
        tree = _parsed(source)
        if tree is None:
            continue
        for node in ast.walk(tree):
            for name in _names(node):
                if _tampers(name):
                    findings.append(
                        Finding(name, "the submission", getattr(node, "lineno", 0), index)
                    )
    return findings


def _names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        # sys.modules["deepgrade.sandbox.worker.main"] names the module as surely as an import does.
        return [node.value, *node.value.split(".")]
    if isinstance(node, ast.Import | ast.ImportFrom):
        modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        dotted = [*modules, *(alias.name for alias in node.names)]
        return [*dotted, *(part for name in dotted for part in name.split("."))]
    return []
