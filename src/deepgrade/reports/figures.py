"""The feedback page's figures: training curves, a function against its reference, a task's
metric against its tiers. Each is an inline PNG with a text alternative that says the same.

Everything drawn here came from the grader's results; the student's numbers may be NaN, infinite
or huge, so axes are scaled to the reference's values and the student's curve may leave them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deepgrade.model.results import CheckResult, Sweep, TaskScore
from deepgrade.reports import html

_REFERENCE = "#1a5fb4"
_STUDENT = "#c77700"
_WRONG = "#c62828"


@dataclass(frozen=True)
class Figure:
    """An inline figure: its data URI and its text alternative (also its caption)."""

    uri: str
    alt: str


def training_curves(check: CheckResult) -> Figure:
    """The check's recorded curves: losses on one plot, accuracies on another."""
    curves = {name: values for name, values in check.series.items() if values}
    groups = [
        {n: v for n, v in curves.items() if "acc" not in n.lower()},
        {n: v for n, v in curves.items() if "acc" in n.lower()},
    ]
    groups = [group for group in groups if group]
    figure = html.new_figure(3.4 * len(groups) + 1.0, 3.0)
    for axes, group in zip(figure.subplots(1, len(groups), squeeze=False)[0], groups, strict=True):
        for values in group.values():
            axes.plot(range(1, len(values) + 1), values, marker="." if len(values) < 30 else "")
        low, high = min(min(v) for v in group.values()), max(max(v) for v in group.values())
        if low > 0 and high / low > 100:
            axes.set_yscale("log")
        axes.set_xlabel("epoch")
        axes.set_ylabel(", ".join(group))
        axes.grid(alpha=0.3)
        if len(group) > 1:
            axes.legend(list(group), fontsize="small")
    figure.suptitle(check.name, fontsize="medium")
    summary = "; ".join(
        f"{name}: {len(values)} values from {values[0]:.4g} to {values[-1]:.4g}"
        for name, values in curves.items()
    )
    return Figure(html.figure_uri(figure), f"{check.name}: {summary}")


def function_sweep(drawn: Sweep) -> Figure:
    """The student's function and the reference over the range, and their derivatives, with
    the inputs where they differ shaded."""
    # A class's pages draw the same mistake many times, and a figure takes a third of a second.
    key = tuple((name, tuple(v) if isinstance(v, list) else v) for name, v in drawn)
    figure = _SWEEPS_DRAWN.get(key)
    if figure is None:
        figure = _draw_sweep(drawn)
        if len(_SWEEPS_DRAWN) < _SWEEPS_KEPT:
            _SWEEPS_DRAWN[key] = figure
    return figure


_SWEEPS_DRAWN: dict[tuple[object, ...], Figure] = {}
_SWEEPS_KEPT = 256


def _draw_sweep(drawn: Sweep) -> Figure:
    panels = [(f"{drawn.call}(x)", drawn.expected, drawn.got)]
    if drawn.expected_gradient:
        panels.append(("derivative", drawn.expected_gradient, drawn.got_gradient))
    figure = html.new_figure(3.4 * len(panels) + 1.0, 3.0, layout=None)
    figure.subplots_adjust(left=0.1, right=0.97, bottom=0.16, top=0.85, wspace=0.32)
    row = figure.subplots(1, len(panels), squeeze=False)[0]
    facts = []
    for axes, (label, expected, got) in zip(row, panels, strict=True):
        wrong = drawn.differs(expected, got)
        axes.plot(drawn.inputs, expected, color=_REFERENCE, linewidth=2, label="reference")
        shown = [g if math.isfinite(g) else math.nan for g in got]
        axes.plot(drawn.inputs, shown, color=_STUDENT, linestyle="--", label="yours")
        if any(wrong):
            axes.fill_between(
                drawn.inputs,
                0,
                1,
                where=wrong,
                transform=axes.get_xaxis_transform(),
                color=_WRONG,
                alpha=0.12,
                step="mid",
                label="differs",
            )
        axes.set_ylim(*_limits(expected, got))
        axes.set_xlabel("x")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        facts.append(_differences(label, drawn.inputs, wrong))
    figure.suptitle(f"{drawn.call}: yours against the reference", fontsize="medium")
    low, high = drawn.inputs[0], drawn.inputs[-1]
    alt = f"{drawn.call}(x) for x from {low:g} to {high:g}: " + "; ".join(facts) + "."
    return Figure(html.figure_uri(figure), alt)


def task_tiers(check: CheckResult, task: TaskScore) -> Figure:
    """The metric the task reached, on a line with each tier's threshold."""
    figure = html.new_figure(5.4, 1.7)
    axes = figure.subplots()
    thresholds = [threshold for threshold, _ in task.tiers]
    for threshold, credit in task.tiers:
        colour = "#2e7d32" if task.reaches(threshold) else "#757575"
        axes.axvline(threshold, color=colour, linestyle=":", linewidth=1.5)
        axes.annotate(
            f"{credit:.0%}",
            (threshold, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="bottom",
            fontsize="small",
            color=colour,
        )
    axes.plot([task.value], [0.5], marker="D", markersize=9, color=_STUDENT)
    values = [*thresholds, task.value]
    span = (max(values) - min(values)) or abs(task.value) or 1.0
    axes.set_xlim(min(values) - 0.15 * span, max(values) + 0.15 * span)
    axes.set_ylim(0, 1)
    axes.set_yticks([])
    axes.set_xlabel(f"{task.name} ({'higher' if task.higher_is_better else 'lower'} is better)")
    alt = (
        f"{check.name}: {task.name} {task.value:.4g}; tiers {task.tiers_text(', ')}; "
        f"reached {task.credit:.0%} of the tiers' credit"
    )
    return Figure(html.figure_uri(figure), alt)


def _limits(expected: list[float], got: list[float]) -> tuple[float, float]:
    """The reference's range, widened to show the student's values that stay near it."""
    low, high = min(expected), max(expected)
    span = (high - low) or max(abs(high), 1.0)
    near = [g for g in got if math.isfinite(g) and low - 2 * span <= g <= high + 2 * span]
    low, high = min([low, *near]), max([high, *near])
    margin = 0.08 * ((high - low) or span)
    return low - margin, high + margin


def _differences(label: str, inputs: list[float], wrong: list[bool]) -> str:
    count = sum(wrong)
    if not count:
        return f"{label} matches the reference"
    first = inputs[wrong.index(True)]
    last = inputs[len(wrong) - 1 - wrong[::-1].index(True)]
    return (
        f"{label} differs from the reference at {count} of {len(wrong)} inputs, "
        f"between x = {first:.3g} and x = {last:.3g}"
    )
