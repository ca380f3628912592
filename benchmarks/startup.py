"""Benchmark: how long ``grade check`` of Lab 2's solution takes next to a bare PyTorch import.

Goals (issue 6): ``grade check solutions/lab2_activations/lab2_activations.ipynb`` at most 1.5
times ``python -c "import torch"``, and ``grade --help`` under 0.3 s. Each command runs as a
separate process, as a student would run it; the two being compared alternate, so that a burst
of load on the machine hits both, and the median of the runs is reported. A first, uncounted
run of each warms the file cache.

    python benchmarks/startup.py              # 5 runs each
    python benchmarks/startup.py --runs 11
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence

import click
from _bench import (
    LAB2_SOLUTION_NB,
    ROOT,
    Timed,
    goals_table,
    grade_command,
    timed_run,
    verdict,
    wide_console,
)

CHECK_GOAL_RATIO = 1.5
HELP_GOAL_SECONDS = 0.3


def _summary(timings: Sequence[Timed]) -> str:
    seconds = [t.seconds for t in timings]
    return f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}-{max(seconds):.2f})"


@click.command()
@click.option("--runs", default=5, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda", "auto"]),
    default="auto",
    show_default=True,
    help="grade check's --device.",
)
def main(runs: int, device: str) -> None:
    console = wide_console()
    import_torch = [sys.executable, "-c", "import torch"]
    check = [*grade_command(), "check", str(LAB2_SOLUTION_NB), "--device", device]
    help_ = [*grade_command(), "--help"]
    for command in (import_torch, check, help_):
        timed_run(command, cwd=ROOT)
    imports: list[Timed] = []
    checks: list[Timed] = []
    helps: list[Timed] = []
    with console.status("timing") as status:
        for run in range(runs):
            status.update(f"run {run + 1} of {runs}")
            imports.append(timed_run(import_torch, cwd=ROOT))
            checks.append(timed_run(check, cwd=ROOT))
            helps.append(timed_run(help_, cwd=ROOT))
    for timed in [*imports, *checks, *helps]:
        if (failure := timed.failure()) is not None:
            console.print(f"[red]a timed command failed[/red] ({failure})")
            return
    torch_s = statistics.median(t.seconds for t in imports)
    check_s = statistics.median(t.seconds for t in checks)
    help_s = statistics.median(t.seconds for t in helps)
    table = goals_table(f"Start-up: median of {runs} runs (min-max)")
    table.add_row('python -c "import torch"', _summary(imports), "-", "-", "-")
    table.add_row(
        "grade check, Lab 2 solution",
        _summary(checks),
        f"<= {CHECK_GOAL_RATIO:g} x import torch",
        f"{check_s / torch_s:.2f} x",
        verdict(check_s / torch_s <= CHECK_GOAL_RATIO),
    )
    table.add_row(
        "grade --help",
        _summary(helps),
        f"< {HELP_GOAL_SECONDS:g} s",
        f"{help_s / HELP_GOAL_SECONDS:.2f} x goal",
        verdict(help_s < HELP_GOAL_SECONDS),
    )
    console.print(table)


if __name__ == "__main__":
    main()
