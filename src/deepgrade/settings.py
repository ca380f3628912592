"""Configuration of the grader, from defaults, ``DEEPGRADE_*`` environment variables or code."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GraderSettings(BaseSettings):
    """Limits and locations used when grading one submission.

    Every field can be set from the environment, e.g. ``DEEPGRADE_EXERCISE_TIMEOUT=30``.
    """

    model_config = SettingsConfigDict(env_prefix="DEEPGRADE_", frozen=True)

    exercise_timeout: float = Field(10.0, gt=0, description="Wall-clock seconds per exercise.")
    cell_timeout: float = Field(10.0, gt=0, description="Wall-clock seconds per notebook cell.")
    submission_timeout: float = Field(
        300.0, gt=0, description="Wall-clock seconds for a whole submission."
    )
    worker_start_timeout: float = Field(
        60.0, gt=0, description="Seconds the worker may take to import its libraries."
    )
    memory_limit_mb: int = Field(
        4096, gt=0, description="Data-segment limit of the worker process, in MiB."
    )
    file_size_limit_mb: int = Field(64, gt=0, description="Largest file the worker may write.")
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
