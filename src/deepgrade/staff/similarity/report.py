"""A similarity report as files: JSON for scripts, and a staff-only HTML page that shows each
flagged pair side by side, per exercise, with the code both share marked."""

from __future__ import annotations

from pathlib import Path

from deepgrade.model.records import write_atomic
from deepgrade.reports.html import render
from deepgrade.staff.similarity.pairs import Shown, SimilarityReport

JSON_FILE = "similarity.json"
HTML_FILE = "similarity.html"


def pieces(shown: Shown) -> list[tuple[str, bool]]:
    """A segment's text cut at its marks: ``(text, marked)`` in order (escaped by the template)."""
    cut: list[tuple[str, bool]] = []
    at = 0
    for start, end in shown.marks:
        cut += [(shown.text[at:start], False), (shown.text[start:end], True)]
        at = end
    cut.append((shown.text[at:], False))
    return [(text, marked) for text, marked in cut if text]


def similarity_html(report: SimilarityReport) -> str:
    return render("similarity.html.j2", report=report, pieces=pieces)


def write_reports(report: SimilarityReport, out: Path) -> list[Path]:
    """``out/similarity.json`` and ``out/similarity.html``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / JSON_FILE, out / HTML_FILE]
    write_atomic(written[0], report.model_dump_json(indent=2))
    write_atomic(written[1], similarity_html(report))
    return written
