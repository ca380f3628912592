"""Pairs of submissions that share more of their own code than chance explains, per exercise.

A fingerprint counts only where it is the student's own: one that any token run of the
solution or the released stub has is dropped, and so is one that more than a share of the
class has (common knowledge: the obvious way to write a line, as MOSS discounts it). For each
exercise, a pair's score is the share of the smaller side's fingerprints that both have; an
exercise is flagged when that share reaches the threshold on enough fingerprints to mean
something, and the pairs with a flagged exercise are ranked by their share over all exercises.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from deepgrade.engine.loader import load_submission
from deepgrade.errors import SubmissionError, UsageError
from deepgrade.model.spec import LabSpec, course_roots, find_lab
from deepgrade.staff.authoring import default_solution, lab_label, owners, stub_source
from deepgrade.staff.similarity.fingerprints import (
    MAX_CODE_CHARS,
    OUTSIDE,
    Fingerprint,
    Segment,
    all_hashes,
    assign_exercises,
    fingerprints,
    segments,
)
from deepgrade.staff.submissions import find_submissions, open_submission

# A fingerprint in more submissions than this is common knowledge, whatever the share says:
# in a small class a few students hit on the same line by themselves.
COMMON_FLOOR = 4


@dataclass(frozen=True)
class SimilarityOptions:
    """How alike is suspicious, and how much of it the report shows (see docs/similarity.md)."""

    threshold: float = 0.5
    min_matches: int = 15
    common: float = 0.1
    max_pairs: int = 50

    def common_limit(self, submissions: int) -> int:
        return max(COMMON_FLOOR, math.ceil(self.common * submissions))


# -- the report's data (its JSON) ---------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Shown(_Model):
    """One segment of one side, with the character spans that the other side shares."""

    label: str
    text: str
    marks: list[tuple[int, int]]


class ExerciseMatch(_Model):
    exercise: str
    matched: int = Field(description="Fingerprints both sides have (own code only).")
    own_a: int = Field(description="The first submission's own fingerprints in this exercise.")
    own_b: int
    share: float = Field(description="matched / the smaller of own_a and own_b.")
    flagged: bool
    a: list[Shown]
    b: list[Shown]


class Pair(_Model):
    a: str
    b: str
    file_a: str
    file_b: str
    share: float = Field(description="Matched fingerprints over the smaller side's, overall.")
    matched: int
    exercises: list[ExerciseMatch]

    @property
    def flagged(self) -> list[ExerciseMatch]:
        return [e for e in self.exercises if e.flagged]


class Skipped(_Model):
    student: str
    reason: str


class SimilarityReport(_Model):
    lab: str
    submissions: int
    compared: list[str]
    skipped: list[Skipped]
    notes: dict[str, list[str]] = Field(description="Per student: cells read line by line, cuts.")
    excluded: list[str] = Field(description="Code whose fingerprints never count.")
    threshold: float
    min_matches: int
    common_limit: int
    flagged_pairs: int = Field(description="Pairs with a flagged exercise, before the cap.")
    pairs: list[Pair] = Field(description="The flagged pairs shown, most alike first.")
    duration_s: float


# -- reading the code ---------------------------------------------------------------------------
@dataclass
class Document:
    """One submission's code: its segments and its winnowed fingerprints."""

    student: str
    file: str
    segments: list[Segment]
    prints: list[Fingerprint]
    notes: list[str]


def read_code(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """The code cells of a notebook or module as ``(label, code)``, bounded, and notes on it."""
    cells = [(cell.label, cell.source) for cell in load_submission(path).cells]
    notes: list[str] = []
    kept, total = [], 0
    for label, code in cells:
        if total + len(code) > MAX_CODE_CHARS:
            notes.append(f"only the first {MAX_CODE_CHARS} characters of code were compared")
            kept.append((label, code[: MAX_CODE_CHARS - total]))
            break
        kept.append((label, code))
        total += len(code)
    return kept, notes


def document(student: str, file: str, cells: list[tuple[str, str]], spec: LabSpec) -> Document:
    found = assign_exercises(segments(cells), owners(spec))
    notes = sorted({f"{s.cell} does not parse: compared as tokens" for s in found if not s.parsed})
    return Document(student, file, found, fingerprints(found), notes)


def excluded_code(spec: LabSpec, paths: Sequence[Path] | None) -> tuple[set[int], list[str]]:
    """The hashes of the code that never counts: by default the course's solution, the stub
    generated from it and the released student files in ``exercises/``; else ``paths``."""
    texts: list[tuple[str, list[tuple[str, str]]]] = []
    if paths is None:
        solution = default_solution(spec)
        released = solution.parent.parent.parent / "exercises" / spec.folder.name
        candidates = (solution, released / spec.module, released / spec.notebook)
        paths = [path for path in candidates if path.is_file()]
        if solution.is_file():
            stub = stub_source(solution.read_text(encoding="utf-8"), lab_label(spec.id))
            texts.append((f"the stub generated from {solution.name}", [("stub", stub)]))
    for path in paths:
        try:
            texts.append((str(path), _whole_code(path)))
        except (SubmissionError, OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the code to exclude, {path}: {exc}") from None
    hashes: set[int] = set()
    for _, cells in texts:
        hashes |= all_hashes(segments(cells))
    if not texts:
        logger.warning("no solution or stub of {} found: every line counts", spec.id)
    return hashes, [name for name, _ in texts]


def _whole_code(path: Path) -> list[tuple[str, str]]:
    """Every line of a module (its plotting cells too, which a submission's reading skips),
    or a notebook's code cells."""
    if path.suffix == ".py":
        return [(path.name, path.read_text(encoding="utf-8"))]
    return read_code(path)[0]


def read_class(root: Path, spec: LabSpec) -> tuple[list[Document], list[Skipped]]:
    """Every submission under ``root`` (the layouts ``grade batch`` reads), as documents."""
    documents, skipped = [], []
    for found in find_submissions(root, spec):
        try:
            with open_submission(found, spec) as (path, inside):
                cells, notes = read_code(path)
                doc = document(found.student, inside, cells, spec)
        except SubmissionError as exc:
            skipped.append(Skipped(student=found.student, reason=str(exc)))
            continue
        doc.notes[:0] = notes
        documents.append(doc)
    return documents, skipped


# -- comparing ----------------------------------------------------------------------------------
def _own(doc: Document, excluded: set[int]) -> dict[str, set[int]]:
    by_exercise: dict[str, set[int]] = defaultdict(set)
    for fp in doc.prints:
        if fp.hash not in excluded:
            by_exercise[doc.segments[fp.segment].exercise].add(fp.hash)
    return by_exercise


def compare(
    documents: Sequence[Document], excluded: set[int], options: SimilarityOptions
) -> tuple[list[Pair], int]:
    """The flagged pairs, most alike first and at most ``options.max_pairs``, and how many
    were flagged in all."""
    own = [_own(doc, excluded) for doc in documents]
    limit = options.common_limit(len(documents))
    exercises = sorted({e for sets in own for e in sets})
    matched: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for exercise in exercises:
        holders: dict[int, list[int]] = defaultdict(list)
        for index, sets in enumerate(own):
            for h in sets.get(exercise, ()):
                holders[h].append(index)
        for h, who in holders.items():
            if len(who) > limit:
                # Common knowledge: it counts for nobody, in the shares' denominators neither.
                for index in who:
                    own[index][exercise].discard(h)
                continue
            for pair in combinations(who, 2):
                matched[pair][exercise] += 1
    scored = []
    for (i, j), counts in matched.items():
        flagged = {
            e
            for e, n in counts.items()
            if n >= options.min_matches and n / _smaller(own[i], own[j], [e]) >= options.threshold
        }
        if flagged:
            total = sum(counts.values())
            share = total / _smaller(own[i], own[j], exercises)
            scored.append((share, total, i, j, counts, flagged))
    scored.sort(key=lambda item: (-item[0], -item[1], documents[item[2]].student))
    pairs = [
        _pair(documents[i], documents[j], own[i], own[j], counts, flagged, share, total)
        for share, total, i, j, counts, flagged in scored[: options.max_pairs]
    ]
    return pairs, len(scored)


def _smaller(a: dict[str, set[int]], b: dict[str, set[int]], exercises: Iterable[str]) -> int:
    chosen = list(exercises)
    return max(
        min(sum(len(a.get(e, ())) for e in chosen), sum(len(b.get(e, ())) for e in chosen)), 1
    )


def _pair(
    a: Document,
    b: Document,
    own_a: dict[str, set[int]],
    own_b: dict[str, set[int]],
    counts: Counter[str],
    flagged: set[str],
    share: float,
    total: int,
) -> Pair:
    matches = []
    for exercise in sorted(counts, key=lambda e: (e not in flagged, -counts[e], e)):
        shared = own_a.get(exercise, set()) & own_b.get(exercise, set())
        matches.append(
            ExerciseMatch(
                exercise=exercise,
                matched=counts[exercise],
                own_a=len(own_a.get(exercise, ())),
                own_b=len(own_b.get(exercise, ())),
                share=round(counts[exercise] / _smaller(own_a, own_b, [exercise]), 4),
                flagged=exercise in flagged,
                a=_shown(a, exercise, shared),
                b=_shown(b, exercise, shared),
            )
        )
    return Pair(
        a=a.student,
        b=b.student,
        file_a=a.file,
        file_b=b.file,
        share=round(share, 4),
        matched=total,
        exercises=matches,
    )


def _shown(doc: Document, exercise: str, shared: set[int]) -> list[Shown]:
    """The exercise's segments of ``doc``, each with the merged spans of shared fingerprints."""
    spans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for fp in doc.prints:
        if fp.hash in shared:
            spans[fp.segment].append((fp.start, fp.end))
    shown = []
    for index, segment in enumerate(doc.segments):
        # Outside the exercises, only what is shared: imports and scratch cells would bury it.
        if segment.exercise == exercise and (index in spans or exercise != OUTSIDE):
            shown.append(Shown(label=segment.label, text=segment.text, marks=_merged(spans[index])))
    return shown


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def find_similar(
    submissions: Path,
    lab: str,
    *,
    exclude: Sequence[Path] | None = None,
    options: SimilarityOptions | None = None,
    course: Path | None = None,
) -> SimilarityReport:
    """Compare every submission of ``lab`` under ``submissions`` with every other.

    ``exclude`` replaces the default code that never counts (the course's solution and the
    released stub); ``course`` is a folder of labs' checks, the bundled course's by default.
    """
    began = time.perf_counter()
    options = options or SimilarityOptions()
    spec = find_lab(lab, course=course_roots(course), include_hidden=False)
    excluded, excluded_names = excluded_code(spec, exclude)
    documents, skipped = read_class(submissions, spec)
    pairs, flagged = compare(documents, excluded, options)
    return SimilarityReport(
        lab=spec.id,
        submissions=len(documents) + len(skipped),
        compared=[doc.student for doc in documents],
        skipped=skipped,
        notes={doc.student: doc.notes for doc in documents if doc.notes},
        excluded=excluded_names,
        threshold=options.threshold,
        min_matches=options.min_matches,
        common_limit=options.common_limit(len(documents)),
        flagged_pairs=flagged,
        pairs=pairs,
        duration_s=round(time.perf_counter() - began, 2),
    )
