"""Finding forbidden API calls by reading the student's source (the grader's own reading)."""

from __future__ import annotations

import ast
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
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        trees.append((index, tree))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                imported.update(alias.asname or alias.name for alias in node.names)
    findings = []
    for index, tree in trees:
        for top in tree.body:
            if isinstance(top, ast.FunctionDef | ast.ClassDef) and top.name in inside:
                findings += _calls_in(top, wanted, imported & wanted, index)
    return findings


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
