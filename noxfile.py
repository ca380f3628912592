"""Developer sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``; on demand,
``nox -s bench`` (long: see docs/benchmarks.md)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
# The CPU build of PyTorch must be installed before the project: an open range pulls CUDA.
TORCH = "torch==2.13.0"
# Quickest first; scale.py grades 1000 submissions (up to an hour on two cores).
BENCHMARKS = (
    "startup.py",
    "public_checks.py",
    "throughput.py",
    "scale.py",
    "similarity.py",
    "gradebook.py",
    "kernel.py",
)


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *(session.posargs or ["-n", "auto"]))


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6", "import-linter>=2.1,<3")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "examples", "noxfile.py")
    # The layers contract reads the package's source only: no dependency is needed to check it.
    session.install("--no-deps", "-e", ".")
    session.run("lint-imports")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmarks with their defaults (or those named: ``nox -s bench -- startup.py``).

    They print figures and never fail on a missed goal.
    """
    session.install(TORCH)
    # throughput.py compares with nbgrader, which comes with the staff extra, and with
    # Otter-Grader, which it installs into an environment of its own (.nox/otter), so that a
    # peer's dependencies never change what deepgrade runs with (docs/benchmarks.md).
    session.install("-e", ".[staff]")
    for script in session.posargs or BENCHMARKS:
        session.run("python", f"benchmarks/{script}")
