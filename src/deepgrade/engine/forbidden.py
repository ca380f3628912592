"""Finding forbidden API calls, and tampering with the grading, by reading the student's source
(the grader's own reading)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deepgrade.engine.loader import Cell
from deepgrade.engine.locations import in_cell
from deepgrade.sandbox.worker.equivalents import expand


@dataclass(frozen=True)
class Finding:
    """A call of a forbidden function inside a definition the exercise grades."""

    name: str
    scope: str
    line: int
    # The cell's position in the cells scanned, and where the student finds it.
    cell: int
    where: str
    # The call as written (``np.tanh``), and with its module spelled out where an import says
    # which it is (``numpy.tanh``).
    written: str = ""
    spelled: str = ""

    def __str__(self) -> str:
        call = self.written or self.name
        if self.spelled and self.spelled != call:
            call += f" ({self.spelled})"
        return f"{call} called in {self.scope} ({self.where})"


def _cells(cells: Iterable[Cell | str]) -> list[Cell]:
    """Cells as given, or sources numbered by their position (``cell 1`` first)."""
    return [c if isinstance(c, Cell) else Cell(i, c) for i, c in enumerate(cells)]


def scan(
    cells: Iterable[Cell | str], scopes: Iterable[str], forbidden: Iterable[str]
) -> list[Finding]:
    """Calls of ``forbidden`` names inside the top-level definitions named in ``scopes``.

    ``obj.name(...)`` counts whatever ``obj`` is (``torch.sigmoid``, ``F.softplus``,
    ``x.sigmoid()``); a bare ``name(...)`` counts only where ``name`` was imported, so that a
    student's own function of the same name may still be called. Every name of the forbidden
    functions' families counts (``expit`` where ``sigmoid`` is forbidden, ``np.tanh`` where
    ``tanh`` is), and an imported name counts by what it imports, whatever it is bound to
    (``from scipy.special import expit as e``).
    """
    wanted, inside = set(expand(forbidden).names), set(scopes)
    if not wanted or not inside:
        return []
    trees = []
    imported: dict[str, str] = {}
    for index, cell in enumerate(_cells(cells)):
        tree = _parsed(cell.source)
        if tree is None:
            continue
        trees.append((index, cell, tree))
        imported |= _imported_names(cell.source)
    bare = {bound for bound, full in imported.items() if full.rpartition(".")[2] in wanted}
    findings = []
    for index, cell, tree in trees:
        for top in tree.body:
            if isinstance(top, ast.FunctionDef | ast.ClassDef) and top.name in inside:
                findings += _calls_in(top, wanted, bare, imported, index, cell)
    return findings


@functools.lru_cache(maxsize=512)
def _imported_names(source: str) -> dict[str, str]:
    """The names a cell binds by importing, each with the dotted name of what it binds."""
    tree = _parsed(source)
    if tree is None:
        return {}
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
    return bound


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


def _calls_in(
    scope: ast.AST,
    wanted: set[str],
    bare: set[str],
    imported: dict[str, str],
    index: int,
    cell: Cell,
) -> list[Finding]:
    found = []
    scope_name = getattr(scope, "name", "?")
    for node in ast.walk(scope):
        name = None
        if isinstance(node, ast.Attribute) and node.attr in wanted:
            name = node.attr
        elif isinstance(node, ast.Name) and node.id in bare:
            name = imported[node.id].rpartition(".")[2]
        if name is not None:
            line = getattr(node, "lineno", 0)
            written = ast.unparse(node)[:120]
            spelled = _spelled(written, imported)
            where = in_cell(cell, line)
            found.append(Finding(name, scope_name, line, index, where, written, spelled))
    return found


def _spelled(written: str, imported: dict[str, str]) -> str:
    """A call as ``written``, its first name replaced by what an import bound it to."""
    head, dot, rest = written.partition(".")
    return (imported.get(head, head) + dot + rest)[:120]


# Names that only code tampering with the grading has a use for: PyTorch's switches for
# function and dispatch modes (the worker's detector uses both) and the worker's own
# internals. A student's answer never needs them, so naming one, even in a string, counts.
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
        "_set_torch_function_state",
        "_pop_torch_dispatch_stack",
        "_push_on_torch_dispatch_stack",
        "_set_dispatch_mode",
        "_unset_dispatch_mode",
        "_disable_current_modes",
        "_DisableTorchDispatch",
        "_ExcludeDispatchKeyGuard",
        "_SetExcludeDispatchKeyGuard",
        "_dispatch_tls_set_dispatch_key_excluded",
        "_Tripwire",
        "_OpTripwire",
        "_ForbiddenCall",
        "_Watched",
        "_Guarded",
        "_StandIn",
        "_detector",
        "REPLY_FD",
        "REQUEST_FD",
    }
)


# The worker's own package: a submission has no business naming it.
_WORKER_PACKAGE = "deepgrade.sandbox"


def _tampers(name: str) -> bool:
    return name in _TAMPERING or name == _WORKER_PACKAGE or name.startswith(_WORKER_PACKAGE + ".")


def tampering(cells: Iterable[Cell | str]) -> list[Finding]:
    """Uses of the grader's machinery anywhere in the submission, by name or in a string."""
    findings = []
    for index, cell in enumerate(_cells(cells)):
        tree = _parsed(cell.source)
        if tree is None:
            continue
        for node in ast.walk(tree):
            for name in _names(node):
                if _tampers(name):
                    line = getattr(node, "lineno", 0)
                    findings.append(
                        Finding(name, "the submission", line, index, in_cell(cell, line))
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


def reported_tampering(reply: Mapping[str, Any]) -> str | None:
    """What the worker's detector reports of tampering with it, in one reply; ``None`` if
    nothing. A report that is there but malformed counts: the worker's own detector never
    writes one. A reply with no report at all was not written by the worker (a forged reply):
    it is judged on its values, like any reply."""
    if "detector" not in reply:
        return None
    report = reply["detector"]
    found = report.get("tampering") if isinstance(report, dict) else None
    if not isinstance(found, list) or not all(isinstance(item, str) for item in found):
        return "the report of the worker's detector of forbidden calls was tampered with"
    if not found:
        return None
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return str(found[0])[:300] + more
