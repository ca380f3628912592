"""What the benchmark scripts share: where ``grade`` is, how a goal is judged and shown.

The scripts report figures and never fail: a missed goal is a row that says so, not an exit
code, so that a slow machine cannot break a run of the benchmarks.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
LAB2_FOLDER = "lab2_activations"
LAB2_SOLUTION_NB = ROOT / "solutions" / LAB2_FOLDER / f"{LAB2_FOLDER}.ipynb"
_TAIL_LINES = 15
# Planted bugs in Lab 2's solution, each an exact replacement in one answer cell; each is one
# a plain assert against PyTorch also sees, so that nbgrader and deepgrade can be compared.
LAB2_BUGS: dict[str, tuple[str, str]] = {
    "overflowing sigmoid": (
        "e = torch.exp(-x.abs())\n        y = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))",
        "y = torch.exp(x) / (1 + torch.exp(x))",
    ),
    "sigmoid backward ignores grad_output": (
        "return grad_output * y * (1 - y)",
        "return y * (1 - y)",
    ),
    "tanh backward from the input": (
        "torch.copysign(-torch.expm1(-2 * x.abs()) / (1 + e), x)\n        ctx.save_for_backward(y)",
        "torch.copysign(-torch.expm1(-2 * x.abs()) / (1 + e), x)\n        ctx.save_for_backward(x)",
    ),
    "ReLU'(0) = 1": (
        "torch.where(x > 0, grad_output, 0.0)",
        "torch.where(x >= 0, grad_output, 0.0)",
    ),
    "softmax without the max shift": (
        "torch.exp(x - x.amax(dim=dim, keepdim=True))",
        "torch.exp(x)",
    ),
}
# Planted bugs that only unusual inputs show: Lab 2's public checks pass them and its hidden
# checks catch them, so that a peer's hidden tests can be compared with deepgrade's.
LAB2_HIDDEN_BUGS: dict[str, tuple[str, str]] = {
    # sigmoid' = exp(-x) sigmoid^2, with exp(-x) = 1/y - 1: NaN (inf * 0) where y underflows.
    "sigmoid backward NaN for large negative inputs": (
        "return grad_output * y * (1 - y)",
        "return grad_output * (1 / y - 1) * y**2",
    ),
    # Right for every dim of a matrix, wrong along a middle dim of a 3-d input.
    "softmax written for matrices (any dim but 0 taken as the last)": (
        "e = torch.exp(x - x.amax(dim=dim, keepdim=True))",
        "dim = 0 if dim == 0 else -1\n        e = torch.exp(x - x.amax(dim=dim, keepdim=True))",
    ),
}
# Rich wraps at 80 columns when the output is not a terminal (a log, a pipe): too narrow for
# the tables, whose rows would wrap.
_PIPE_WIDTH = 120


def grade_command() -> list[str]:
    """The ``grade`` console script of this interpreter's environment, as users run it."""
    beside = Path(sys.executable).with_name("grade")
    found = str(beside) if beside.is_file() else shutil.which("grade")
    if found is None:
        raise SystemExit("the grade command is not installed in this environment")
    return [found]


def activated_env(scripts: Path = Path(sys.executable).parent) -> dict[str, str]:
    """The environment with ``scripts`` (this interpreter's by default) first on the PATH.

    As if that environment were activated: nbgrader runs ``alembic`` by name, and Otter's
    commands find their own environment's first.
    """
    return {**os.environ, "PATH": os.pathsep.join([str(scripts), os.environ.get("PATH", "")])}


@dataclass(frozen=True)
class Timed:
    """One run of a command: its wall-clock seconds, exit code and output (for a failure).

    ``user`` is the user CPU seconds of the processes it started that have been reaped by then
    (their children's too, where each parent waited): on a loaded machine a fairer figure to
    compare than the wall time.
    """

    seconds: float
    returncode: int
    output: str
    user: float = 0.0

    def failure(self) -> str | None:
        """The last lines of the output when the command failed, else ``None``."""
        if self.returncode == 0:
            return None
        tail = self.output.strip().splitlines()[-_TAIL_LINES:]
        return f"exit code {self.returncode}: " + "\n".join(tail)


def timed_run(
    command: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Timed:
    """Run ``command`` to its end, timing it from start to exit (output kept in memory)."""
    started, user = time.perf_counter(), _children_user()
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    seconds = time.perf_counter() - started
    output = done.stdout.decode(errors="replace")
    return Timed(seconds, done.returncode, output, _children_user() - user)


def timed_pool(runs: Sequence[Callable[[], Timed]], jobs: int) -> Timed:
    """Call ``runs`` (each a :func:`timed_run`), ``jobs`` at a time, as one timed run.

    The wall time is from the first start to the last exit and the CPU time that of all of
    them (each run's own ``user`` counts the others' too when they overlap); the exit code and
    output are the first failure's, or the last run's.
    """
    started, user = time.perf_counter(), _children_user()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = list(pool.map(lambda run: run(), runs))
    seconds = time.perf_counter() - started
    last = next((timed for timed in done if timed.returncode != 0), done[-1])
    return Timed(seconds, last.returncode, last.output, _children_user() - user)


def _children_user() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime


def goals_table(title: str) -> Table:
    """A table with one row per goal: what was measured, the figure, the goal, whether met."""
    table = Table(title=title)
    for column in ("measure", "figure", "goal", "ratio", "met"):
        table.add_column(column)
    return table


def verdict(met: bool) -> str:
    return "[green]yes[/green]" if met else "[red]no[/red]"


def plant_bug(notebook: Any, bug: tuple[str, str]) -> None:
    """Make the replacement ``bug`` in the one code cell of ``notebook`` that holds its text."""
    old, new = bug
    (hit,) = [cell for cell in notebook.cells if old in cell.source]
    hit.source = hit.source.replace(old, new)


def type_solution(notebook: Any) -> None:
    """Type Lab 2's solution into the answer cells of its released ``notebook`` (JSON data),
    as a student who finished the lab would hand it in."""
    answers = {
        cell["metadata"]["nbgrader"]["grade_id"]: cell["source"]
        for cell in json.loads(LAB2_SOLUTION_NB.read_text(encoding="utf-8"))["cells"]
        if cell["metadata"].get("nbgrader", {}).get("solution")
    }
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]


def wide_console() -> Console:
    """A console for the tables: the terminal's width, or a readable one in a log or pipe."""
    return Console() if sys.stdout.isatty() else Console(width=_PIPE_WIDTH)
