"""An audit's report: a table in the terminal, JSON for CI, an HTML page for the lab's author
with each survivor's diff (the mistake that no check catches yet)."""

from __future__ import annotations

import html
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from deepgrade.model.records import write_atomic
from deepgrade.staff.audit.runner import AuditReport, ExerciseAudit, Outcome

JSON_FILE = "audit.json"
HTML_FILE = "audit.html"


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def render_audit(report: AuditReport, console: Console, *, goal: float = 95.0) -> None:
    """The table of exercises, then each survivor's one-line description."""
    table = Table(title=f"audit of {report.lab} ({report.duration_s:g} s, {report.jobs} jobs)")
    table.add_column("exercise", no_wrap=True)  # an id cut short names no exercise
    for column in ("mutants", "killed", "survived", "equivalent", "errors", "kill rate"):
        table.add_column(column, justify="right", no_wrap=True)
    for exercise in report.exercises:
        rate = Text(percent(exercise.kill_rate))
        if exercise.kill_rate is not None and exercise.kill_rate * 100 < goal:
            rate.stylize("red")
        table.add_row(
            exercise.id,
            str(len(exercise.mutants)),
            str(exercise.killed),
            str(exercise.survived),
            str(exercise.equivalent),
            str(exercise.errors),
            rate,
        )
    table.add_row("all", *[""] * 5, percent(report.kill_rate), style="bold")
    # Wider than a narrow terminal rather than ids and rates cut short.
    longest = max((len(e.id) for e in report.exercises), default=0)
    width = console.width
    console.width = max(width, longest + 75)
    console.print(table)
    console.width = width
    for exercise in report.exercises:
        for mutant in exercise.mutants:
            if mutant.outcome is Outcome.SURVIVED:
                # Plain text: source code is not markup.
                console.print(
                    Text(
                        f"survived {mutant.id} line {mutant.line} ({mutant.function}): "
                        f"{mutant.original} -> {mutant.replacement}"
                    ),
                    highlight=False,
                    soft_wrap=True,
                )
    for stale in report.stale_equivalents:
        console.print(Text(f"audit.toml marks {stale} equivalent, but it did not survive"))


def write_reports(report: AuditReport, out: Path) -> list[Path]:
    """``out/audit.json`` and ``out/audit.html``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / JSON_FILE, out / HTML_FILE]
    write_atomic(written[0], report.model_dump_json(indent=2))
    write_atomic(written[1], audit_html(report))
    return written


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; }
table { border-collapse: collapse; } td, th { padding: .2em .8em; border-bottom: 1px solid #ddd; }
td.n { text-align: right; } .low { color: #b00; font-weight: bold; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
.add { color: #060; } .del { color: #a00; } .hunk { color: #555; }
"""


def audit_html(report: AuditReport, *, goal: float = 95.0) -> str:
    """A self-contained page: the table, then each exercise's survivors with their diffs."""
    rows = "".join(_row(e, goal) for e in report.exercises)
    sections = "".join(_survivors(e) for e in report.exercises)
    stale = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in report.stale_equivalents)
    stale_part = (
        f"<h2>Marked equivalent, but not surviving</h2><p>Remove them from audit.toml:</p>"
        f"<ul>{stale}</ul>"
        if stale
        else ""
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Audit of {html.escape(report.lab)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Audit of {html.escape(report.lab)}: {percent(report.kill_rate)} killed</h1>"
        f"<p>Mutants of <code>{html.escape(report.solution)}</code> graded by the lab's public "
        f"and hidden checks ({report.duration_s:g} s, {report.jobs} jobs, seed {report.seed}, "
        f"at most {report.max_mutants or 'all'} per exercise, isolation "
        f"{report.isolation.value}). A survivor is a mistake that no check catches: add a "
        f"check that fails on its diff, or, if it computes the same as the solution, mark it "
        f"equivalent in the lab's audit.toml with a reason.</p>"
        f"<table><tr><th>exercise</th><th>mutants</th><th>killed</th><th>survived</th>"
        f"<th>equivalent</th><th>errors</th><th>kill rate</th></tr>{rows}</table>"
        f"{sections}{stale_part}</body></html>"
    )


def _row(exercise: ExerciseAudit, goal: float) -> str:
    rate = exercise.kill_rate
    low = " low" if rate is not None and rate * 100 < goal else ""
    cells = (len(exercise.mutants), exercise.killed, exercise.survived, exercise.equivalent)
    numbers = "".join(f"<td class='n'>{n}</td>" for n in (*cells, exercise.errors))
    return (
        f"<tr><td><a href='#{html.escape(exercise.id)}'>{html.escape(exercise.id)}</a></td>"
        f"{numbers}<td class='n{low}'>{percent(rate)}</td></tr>"
    )


def _survivors(exercise: ExerciseAudit) -> str:
    shown = [m for m in exercise.mutants if m.outcome in (Outcome.SURVIVED, Outcome.ERROR)]
    if not shown:
        return ""
    parts = [f"<h2 id='{html.escape(exercise.id)}'>{html.escape(exercise.id)}</h2>"]
    for mutant in shown:
        parts.append(
            f"<h3>{mutant.outcome.value}: <code>{html.escape(mutant.id)}</code></h3>"
            f"<p>{html.escape(mutant.operator)}, line {mutant.line} in "
            f"<code>{html.escape(mutant.function)}</code>: {html.escape(mutant.description)}"
            f"{': ' + html.escape(mutant.detail) if mutant.detail else ''}</p>"
            f"<pre>{_diff_html(mutant.diff)}</pre>"
        )
    return "".join(parts)


def _diff_html(diff: str) -> str:
    lines = []
    for line in diff.splitlines():
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
        if line.startswith(("+++", "---")):
            kind = "hunk"
        escaped = html.escape(line)
        lines.append(f"<span class='{kind}'>{escaped}</span>" if kind else escaped)
    return "\n".join(lines)
