"""Benchmark: how long the public checks of each lab take on the reference solution.

The goal (issue 3): under 10 s per lab on one CPU core, Lab 7 excepted (it trains a model).
Run on demand, never in the test suite:

    python benchmarks/public_checks.py            # every lab, public checks only
    python benchmarks/public_checks.py --hidden   # with the hidden checks too

The process is pinned to one core (the worker inherits the pin) and torch to one thread.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.table import Table

from deepgrade.engine.grading import grade_submission
from deepgrade.settings import GraderSettings

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 10.0


@click.command()
@click.option("--hidden", is_flag=True, help="Include the hidden checks.")
@click.option("--lab", "labs", multiple=True, help="Only these lab folders (e.g. lab4_backprop).")
@click.option("--repeat", default=1, show_default=True, help="Runs per lab; the best is shown.")
def main(hidden: bool, labs: tuple[str, ...], repeat: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    torch.set_num_threads(1)
    settings = GraderSettings(include_hidden=hidden)
    table = Table(title=f"{'All' if hidden else 'Public'} checks on the reference solutions")
    for column in ("lab", "exercises", "checks", "score", "best wall time", "goal"):
        table.add_column(column)
    for solution in sorted(ROOT.glob("solutions/*/*.py")):
        folder = solution.parent.name
        if solution.stem != folder or (labs and folder not in labs):
            continue
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            result = grade_submission(solution, settings=settings, device="cpu")
            timings.append(time.perf_counter() - started)
        best = min(timings)
        checks = sum(len(e.checks) for e in result.exercises)
        goal = "-" if folder.startswith("lab7") else ("ok" if best < GOAL_SECONDS else "SLOW")
        table.add_row(
            folder,
            str(len(result.exercises)),
            str(checks),
            f"{result.score:g}/{result.max_score:g}",
            f"{best:.2f} s",
            goal,
        )
    Console().print(table)


if __name__ == "__main__":
    main()
