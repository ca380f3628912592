"""Presenting results to people: a rich table and each failure's explanation."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from deepgrade.model.results import (
    CheckResult,
    ExerciseResult,
    LabResult,
    Status,
    format_points,
)

_STYLES = {
    Status.PASSED: "green",
    Status.FAILED: "yellow",
    Status.ERROR: "red",
    Status.TIMEOUT: "red",
    Status.FORBIDDEN: "magenta",
    Status.NOT_IMPLEMENTED: "dim",
    Status.MISSING: "dim",
    Status.GRADER_ERROR: "bold red reverse",
}


def _curve(name: str, values: list[float]) -> Text:
    """One line that sums up a recorded curve such as a loss history."""
    return Text(
        f"  {name}: {len(values)} values, from {values[0]:.4g} to {values[-1]:.4g}", style="dim"
    )


def render_result(
    result: LabResult, console: Console, *, verbose: bool = False, show_isolation: bool = True
) -> None:
    """Print the score table, then an explanation for every exercise that did not pass.

    ``show_isolation``: whether to say how the worker was isolated; it is the same for a whole
    session, so notebook check cells say it once per kernel, not under every cell.
    """
    score, max_score = format_points(result.score), format_points(result.max_score)
    table = Table(title=f"{result.lab}: {score} / {max_score}")
    table.add_column("exercise")
    table.add_column("status")
    table.add_column("points", justify="right")
    for exercise in result.exercises:
        style = _STYLES[exercise.status]
        table.add_row(
            exercise.id,
            Text(exercise.status.value, style=style),
            exercise.points_label,
        )
    console.print(table)
    if not result.complete:
        names = ", ".join(e.id for e in result.not_graded)
        console.print(
            f"[bold red]incomplete:[/] the grader itself failed on {escape(names)}; "
            "those points are not counted (not zeroed). Tell the course staff."
        )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if not result.hidden_checks_run:
        console.print("[dim]Only public checks ran; the final grade also uses hidden checks.[/]")
    if show_isolation and result.isolation is not None:
        console.print(f"[dim]isolation: {result.isolation.value}[/]")
    for exercise in result.exercises:
        if exercise.status is Status.PASSED and not verbose:
            continue
        body = _explanation(exercise, verbose=verbose)
        if exercise.output and (verbose or exercise.status is not Status.PASSED):
            body.append(Text("\nyour code printed:\n" + exercise.output, style="dim"))
        console.print(
            Panel(
                Group(*body),
                title=f"{exercise.id}: {exercise.status.value}",
                border_style=_STYLES[exercise.status],
                title_align="left",
            )
        )


def _explanation(exercise: ExerciseResult, *, verbose: bool) -> list[Text]:
    """The lines that explain an exercise: each check that did not pass (all, when verbose)."""
    if exercise.status is Status.NOT_IMPLEMENTED:
        # A stub fails every check the same way: one line says it (with what the stub says to
        # implement), not one per check.
        said = next((c.message for c in exercise.checks if c.message), exercise.message)
        return [Text(said or "not implemented yet")]
    shown = [c for c in exercise.checks if verbose or c.status is not Status.PASSED]
    # Checks that failed the same way (an error raised in every call) share one explanation;
    # a check with curves, or with no message, stands alone.
    groups: dict[str, list[CheckResult]] = {}
    for check in shown:
        alone = check.series or not check.message
        groups.setdefault(f"{id(check)}" if alone else f"message:{check.message}", []).append(check)
    lines: list[Text] = []
    for group in groups.values():
        names, first = ", ".join(c.label for c in group), group[0]
        lines.append(Text(f"{names}: {first.message}" if first.message else names))
        lines += [_curve(name, values) for name, values in first.series.items() if values]
    return lines or [Text(exercise.message)]
