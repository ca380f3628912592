"""Configuration of the grader, from defaults, ``DEEPGRADE_*`` environment variables or code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
# The repository an editable install runs from: it holds the bundled course (autograder/...).
CHECKOUT_DIR = PACKAGE_DIR.parents[1]


class GraderSettings(BaseSettings):
    """Limits and locations used when grading one submission.

    Every field can be set from the environment, e.g. ``DEEPGRADE_EXERCISE_TIMEOUT=30``.
    """

    model_config = SettingsConfigDict(env_prefix="DEEPGRADE_", frozen=True)

    exercise_timeout: float = Field(
        10.0,
        gt=0,
        description="CPU seconds per exercise, used by all the worker's processes together.",
    )
    cell_timeout: float = Field(
        10.0, gt=0, description="CPU seconds per notebook cell, as for exercises."
    )
    wall_clock_factor: float = Field(
        4.0,
        ge=1,
        description="An exercise or cell also stops after this many times its CPU seconds of "
        "wall-clock time: code that sleeps or waits uses no CPU.",
    )
    submission_timeout: float = Field(
        300.0, gt=0, description="Wall-clock seconds for a whole submission."
    )
    worker_start_timeout: float = Field(
        60.0, gt=0, description="Seconds the worker may take to import its libraries."
    )
    memory_limit_mb: int = Field(
        4096,
        gt=0,
        description="Memory of the worker, in MiB: each process's data segment, and all its "
        "processes' memory together.",
    )
    file_size_limit_mb: int = Field(64, gt=0, description="Largest file the worker may write.")
    open_files_limit: int = Field(256, gt=16, description="Files a worker process may hold open.")
    process_limit: int = Field(
        64, gt=2, description="Processes a worker may run at once (the worker included)."
    )
    isolation: Literal["auto", "bubblewrap", "limits"] = Field(
        "auto",
        description="Worker isolation: bubblewrap where it works (auto), bubblewrap or an "
        "error (bubblewrap), or resource limits alone (limits).",
    )
    allow_limits_only: bool = Field(
        False,
        description="Let grade batch grade a class with limits-only isolation, where one "
        "student's code can read, signal or overwrite another's work.",
    )
    tmpfs_size_mb: int = Field(
        256, gt=0, description="Size of each private tmpfs of a worker under bubblewrap, in MiB."
    )
    preload: tuple[str, ...] = Field(
        ("torch", "numpy", "sympy"),
        description="Modules a worker template imports once for all the workers it forks.",
    )
    fork_templates: bool = Field(
        True,
        description=(
            "Fork CPU worker templates from the grader, which imported PyTorch once for both "
            "(Linux); false: start each as a new interpreter that imports it again."
        ),
    )
    output_limit_chars: int = Field(
        4000, gt=0, description="Student output kept per exercise; the rest is counted."
    )
    message_limit_mb: int = Field(
        256, gt=0, description="Largest reply the grader accepts from the worker, in MiB."
    )
    autograder_dir: Path | None = Field(
        None, description="Folder of lab checks; found next to the submission when unset."
    )
    include_hidden: bool = Field(True, description="Run hidden checks when they are present.")
    scheduler_timeout: float = Field(
        10.0, gt=0, description="Seconds to reach a Dask scheduler and find one of its workers."
    )
