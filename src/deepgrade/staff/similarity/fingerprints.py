"""A submission's code as winnowed fingerprints, per exercise (the MOSS scheme).

The code is cut into its top-level definitions (found with :mod:`ast`, or line by line where a
cell does not parse), and each definition goes to the exercise that requires its name, or, for
a helper, to the exercises whose definitions use it. A definition becomes a sequence of
normalised tokens: every identifier but an attribute's is ``N`` and every string ``S``,
comments, blank lines and trailing commas are dropped and a statement ends at its newline only
outside brackets, so renamed variables, new comments, docstrings and reformatting leave it
unchanged. Each run of
:data:`K` tokens is hashed and winnowing (Schleimer, Wilkerson and Aiken, 2003) keeps the
smallest hash of every :data:`WINDOW` consecutive ones: any match of ``K + WINDOW - 1`` tokens
or more shares at least one fingerprint, and reordering definitions changes none, since no
token run crosses from one definition into another.

Submissions are untrusted text: nothing here imports or runs them, and the code read from one
is bounded (:data:`MAX_CODE_CHARS`).
"""

from __future__ import annotations

import ast
import keyword
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import NamedTuple

# Tokens a fingerprint covers, and the winnowing window: matches of 12 tokens or more (about
# one statement) are always seen; shorter ones are chance.
K = 9
WINDOW = 4
# Code beyond this many characters of one submission is not compared: a lab's code is 10 to 40
# thousand, and the rest of an 8 MiB notebook would only slow the comparison down.
MAX_CODE_CHARS = 200_000
# Where a definition belongs when no exercise requires or uses it (imports, scratch code).
OUTSIDE = "(outside the exercises)"

_TOKEN = re.compile(
    r"""
     (?P<comment>\#[^\n]*)
    |(?P<string>(?:[rRbBuUfF]{1,2})?(?:'''[\s\S]*?(?:'''|\Z)|\"\"\"[\s\S]*?(?:\"\"\"|\Z)
        |'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?))
    |(?P<name>[^\W\d]\w*)
    |(?P<number>\d[\w.]*|\.\d\w*)
    |(?P<continuation>\\\n)
    |(?P<newline>\n)
    |(?P<op>\*\*=?|//=?|->|:=|[<>!=]=|<<=?|>>=?|[-+*/%@&|^]=|\S)
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
_OPENING, _CLOSING = "([{", ")]}"
_DEFINITION = re.compile(r"^(?:async[ \t]+)?(?:def|class)[ \t]+([^\W\d]\w*)")
_ASSIGNED = re.compile(r"^([^\W\d]\w*)[ \t]*(?::[^=]*)?=(?!=)")
_IDENTIFIER = re.compile(r"[^\W\d]\w*")


class Token(NamedTuple):
    """A normalised token and where its text lies in the segment (character offsets)."""

    text: str
    start: int
    end: int


def tokens(code: str) -> list[Token]:
    """``code`` as normalised tokens; any text at all tokenises (a file need not parse)."""
    found: list[Token] = []
    depth = 0
    for match in _TOKEN.finditer(code):
        kind, text = match.lastgroup, match.group()
        if kind in ("comment", "continuation"):
            continue
        if kind == "newline":
            # A statement ends at a newline outside brackets: wrapping a long call over several
            # lines changes nothing.
            if depth == 0 and found and found[-1].text != ";":
                found.append(Token(";", match.start(), match.end()))
            continue
        if kind == "name":
            attribute = bool(found) and found[-1].text == "." and code[match.start() - 1] == "."
            text = text if text in _KEYWORDS or attribute else "N"
        elif kind == "string":
            text = "S"
        elif text in _OPENING:
            depth += 1
        elif text in _CLOSING:
            depth = max(depth - 1, 0)
            if found and found[-1].text == ",":
                found.pop()  # a formatter's trailing comma: (a, b,) is (a, b)
        found.append(Token(text, match.start(), match.end()))
    return found


@dataclass(frozen=True)
class Fingerprint:
    """One winnowed hash and the text it covers in its segment."""

    hash: int
    segment: int
    start: int
    end: int


@cache
def _token_id(text: str) -> int:
    # A digest, not hash(): string hashes change from one process to the next.
    return zlib.crc32(text.encode())


def kgram_hashes(found: list[Token]) -> list[int]:
    """The hash of every run of :data:`K` tokens, in order (a tuple of integers hashes the
    same in every process)."""
    ids = [_token_id(token.text) for token in found]
    return [hash(tuple(ids[i : i + K])) for i in range(len(ids) - K + 1)]


def winnow(hashes: list[int]) -> list[int]:
    """Indices of the hashes winnowing keeps: the smallest of each window (the rightmost one
    on a tie), each position once; a text shorter than a window keeps its smallest."""
    if not hashes:
        return []
    width = min(WINDOW, len(hashes))
    kept: list[int] = []
    for left in range(len(hashes) - width + 1):
        window = hashes[left : left + width]
        smallest = min(window)
        position = left + width - 1 - window[::-1].index(smallest)
        if not kept or kept[-1] != position:
            kept.append(position)
    return kept


# -- segments: the top-level definitions, and the exercise each belongs to ---------------------
@dataclass(frozen=True)
class Segment:
    """A run of a submission's top-level code: one definition, or statements between them."""

    text: str
    cell: str
    line: int
    name: str | None
    uses: frozenset[str]
    parsed: bool
    exercise: str = OUTSIDE

    @property
    def label(self) -> str:
        return f"{self.cell}, line {self.line}"


@dataclass
class _Chunk:
    first: int
    last: int
    name: str | None
    uses: set[str] = field(default_factory=set)


def _parsed_chunks(code: str) -> list[_Chunk] | None:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    chunks: list[_Chunk] = []
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        last = node.end_lineno or node.lineno
        uses = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        name = _node_name(node)
        if name is None and chunks and chunks[-1].name is None:
            # Statements that define nothing stay together (imports, calls, a plot).
            chunks[-1].last, chunks[-1].uses = last, chunks[-1].uses | uses
            continue
        chunks.append(_Chunk(first, last, name, uses))
    return chunks


def _node_name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _line_chunks(code: str) -> list[_Chunk]:
    """Chunks of a cell that does not parse: a line at the margin that starts a definition
    (or a decorator, or an assignment) starts a chunk; indented lines continue one."""
    chunks: list[_Chunk] = []
    decorated = False
    for number, line in enumerate(code.splitlines(), start=1):
        at_margin = bool(line) and not line[0].isspace() and not line.startswith("#")
        definition = _DEFINITION.match(line) or _ASSIGNED.match(line)
        if at_margin and decorated and definition:
            chunks[-1].name, decorated = definition.group(1), False
        elif at_margin and (definition or line.startswith("@")):
            name = definition.group(1) if definition else None
            chunks.append(_Chunk(number, number, name))
            decorated = definition is None
        elif not chunks or (at_margin and chunks[-1].name is not None):
            chunks.append(_Chunk(number, number, None))
        chunks[-1].last = number
        chunks[-1].uses |= set(_IDENTIFIER.findall(line))
    return chunks


def segments(cells: Iterable[tuple[str, str]]) -> list[Segment]:
    """The top-level chunks of each ``(label, code)`` cell, as segments (no exercise yet)."""
    found: list[Segment] = []
    for label, code in cells:
        chunks = _parsed_chunks(code)
        parsed = chunks is not None
        lines = code.splitlines(keepends=True)
        for chunk in chunks if chunks is not None else _line_chunks(code):
            text = "".join(lines[chunk.first - 1 : chunk.last])
            if text.strip():
                uses = frozenset(chunk.uses)
                found.append(Segment(text, label, chunk.first, chunk.name, uses, parsed))
    return found


def assign_exercises(found: list[Segment], owners: Mapping[str, str]) -> list[Segment]:
    """Each segment with its exercise: the one requiring its name; for a helper, the
    exercise of the first definition that uses it (directly or through other helpers)."""
    names = [s.name for s in found if s.name is not None]
    exercise_of = {name: owners[name] for name in names if name in owners}
    uses: dict[str, set[str]] = {}
    for segment in found:
        if segment.name is not None:
            uses.setdefault(segment.name, set()).update(segment.uses - {segment.name})
    # Breadth first from the required definitions: a helper goes to its nearest owner.
    frontier = list(exercise_of)
    while frontier:
        following: list[str] = []
        for name in frontier:
            for helper in sorted(uses.get(name, set()) & uses.keys()):
                if helper not in exercise_of:
                    exercise_of[helper] = exercise_of[name]
                    following.append(helper)
        frontier = following
    return [replace(s, exercise=exercise_of.get(s.name or "", OUTSIDE)) for s in found]


def fingerprints(found: list[Segment]) -> list[Fingerprint]:
    """The winnowed fingerprints of every segment."""
    prints: list[Fingerprint] = []
    for index, segment in enumerate(found):
        run = tokens(segment.text)
        hashes = kgram_hashes(run)
        for position in winnow(hashes):
            start, end = run[position].start, run[position + K - 1].end
            prints.append(Fingerprint(hashes[position], index, start, end))
    return prints


def all_hashes(found: list[Segment]) -> set[int]:
    """Every token run's hash, not only the winnowed ones: what excluded code covers."""
    return {h for segment in found for h in kgram_hashes(tokens(segment.text))}
