"""Benchmark: ``grade similarity`` on a large synthetic class of Lab 2, its time and its verdicts.

Each of N students hands in Lab 2's solution module with up to three of the usual bugs; four in
ten also write softmax the other usual way (the same algorithm, their own variable names), which
must not make them look alike. A few students write a helper of their own, and for each of them
one classmate hands in a renamed copy and another a reordered one: those copies, and only they,
must be flagged.

    python benchmarks/similarity.py                  # 300 students
    python benchmarks/similarity.py --students 1000
"""

from __future__ import annotations

import random
import re
import resource
import tempfile
import time
from pathlib import Path

import click
from _bench import LAB2_BUGS, LAB2_FOLDER, ROOT

from deepgrade.staff.similarity import find_similar

SOLUTION = (ROOT / "solutions" / LAB2_FOLDER / f"{LAB2_FOLDER}.py").read_text(encoding="utf-8")
SOFTMAX = (
    "        e = torch.exp(x - x.amax(dim=dim, keepdim=True))\n"
    "        y = e / e.sum(dim=dim, keepdim=True)\n"
)
NAMES = ("m", "top", "biggest", "peak", "z", "ex", "num", "den", "s", "tot")
SIGMOID = "class Sigmoid(Function):"


def _softmax(rng: random.Random) -> str:
    """The other usual softmax, with names of the student's choosing."""
    peak, ex, total = rng.sample(NAMES, 3)
    return (
        f"        {peak} = x.max(dim=dim, keepdim=True).values\n"
        f"        {ex} = (x - {peak}).exp()\n"
        f"        {total} = {ex}.sum(dim=dim, keepdim=True)\n"
        f"        y = {ex} / {total}\n"
    )


METHODS = (
    "abs", "clamp", "flatten", "float", "double", "exp", "log1p", "sqrt", "square",
    "neg", "sign", "sum", "mean", "cumsum", "contiguous", "detach", "clone", "relu",
)  # fmt: skip


def _helper(k: int, rng: random.Random) -> str:
    """A helper nobody else writes: chains of tensor methods drawn at random."""
    lines = [
        f"    x = x.{rng.choice(METHODS)}().{rng.choice(METHODS)}() * {rng.randint(2, 99)}\n"
        for _ in range(8)
    ]
    return f"def _checked_{k}(x):\n{''.join(lines)}    return x\n\n\n"


def _own_work(source: str, k: int, rng: random.Random) -> str:
    source = source.replace(f"# %%\n{SIGMOID}", f"# %%\n{_helper(k, rng)}{SIGMOID}")
    return source.replace(
        "        e = torch.exp(-x.abs())\n",
        f"        x = _checked_{k}(x)\n        e = torch.exp(-x.abs())\n",
        1,
    )


def _renamed(source: str, k: int) -> str:
    source = source.replace(f"_checked_{k}", f"_guard{k}")
    return re.sub(r"(?<![.\w])e\b", "ex", source)


def _reordered(source: str, _k: int) -> str:
    cells = re.split(r"(?m)^(?=# %%)", source)
    flipped = [
        "# %%\n" + "\n\n\n".join(reversed(re.split(r"\n\n\n(?=\S)", c[5:].strip("\n")))) + "\n\n\n"
        if c.startswith("# %%\n") and "\n\n\ndef " in c
        else c
        for c in cells
    ]
    return re.sub(r"(?m)^((?:    )+)", lambda m: "  " * (len(m.group(1)) // 4), "".join(flipped))


def write_class(folder: Path, students: int, copies: int, seed: int) -> set[tuple[str, str]]:
    """The class as ``<student>.py`` modules; returns the pairs that must be flagged."""
    rng = random.Random(seed)
    names = [f"s{n:04d}" for n in range(students)]
    sources = {}
    for name in names:
        source = SOLUTION
        for old, new in rng.sample(list(LAB2_BUGS.values()), rng.randint(0, 3)):
            source = source.replace(old, new, 1)
        if rng.random() < 0.4 and SOFTMAX in source:
            source = source.replace(SOFTMAX, _softmax(rng))
        sources[name] = source
    planted = set()
    for k in range(copies):
        original, renamed, reordered = names[3 * k : 3 * k + 3]
        sources[original] = _own_work(sources[original], k, rng)
        sources[renamed] = _renamed(sources[original], k)
        sources[reordered] = _reordered(sources[original], k)
        planted |= {(original, renamed), (original, reordered), (renamed, reordered)}
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(source, encoding="utf-8")
    return planted


@click.command()
@click.option("--students", default=300, show_default=True)
@click.option("--copies", default=3, show_default=True, help="Students copied twice each.")
@click.option("--seed", default=0, show_default=True)
def main(students: int, copies: int, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="deepgrade-similarity-") as scratch:
        folder = Path(scratch)
        planted = write_class(folder, students, copies, seed)
        began, cpu = time.perf_counter(), time.process_time()
        report = find_similar(folder, "lab2")
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    flagged = {(pair.a, pair.b) for pair in report.pairs}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    top = {(p.a, p.b) for p in report.pairs[: len(planted)]}
    click.echo(f"{students} submissions compared in {wall:.2f} s ({cpu:.2f} s CPU)")
    click.echo(f"peak memory (RSS) {peak:.0f} MiB; {len(report.skipped)} unreadable")
    click.echo(f"flagged pairs: {report.flagged_pairs}, of which planted: {len(planted & flagged)}")
    click.echo(
        f"planted pairs found: {len(planted & flagged)} of {len(planted)}, on top: {top == planted}"
    )
    click.echo(f"other pairs flagged: {sorted(flagged - planted) or 'none'}")


if __name__ == "__main__":
    main()
