"""What the hosted autograders share: the export's configuration, the upload opened and graded
with the exported checks, and the grading folders closed to the workers.

Gradescope and PrairieLearn run their grading containers as root, often without user
namespaces, so bubblewrap may not start there. A root grader then runs its workers as an
unprivileged user of their own (``deepgrade.sandbox.templates.worker_user``), which can read
whatever the container's files let anyone read; :func:`close_to_workers` makes the autograder's
folder (checks, upload, results) root's alone before any worker starts.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from deepgrade.engine.archives import ARCHIVE_SUFFIX, candidate_files, choose_file, extract_archive
from deepgrade.errors import DeepgradeError, GraderError, SubmissionError, UsageError
from deepgrade.model.results import CheckResult, IsolationLevel, LabResult
from deepgrade.model.spec import LabSpec, find_lab
from deepgrade.sandbox.isolation import isolation_level, unreadable_python_folders
from deepgrade.settings import GraderSettings

# The export's own files, in its folder of checks.
CONFIG_FILE = "deepgrade.json"
CHECKS_DIR = "autograder"

HiddenVisibility = Literal["after_published", "hidden"]


class ExportConfig(BaseModel):
    """What ``grade export`` wrote down for the autograder: the lab and how to show it."""

    lab: str
    deepgrade: str = Field(description="The deepgrade version the export was made with.")
    hidden_visibility: HiddenVisibility = "after_published"


def read_config(source: Path) -> ExportConfig:
    return ExportConfig.model_validate_json((source / CONFIG_FILE).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Graded:
    """One upload graded: the lab's result, or why the upload could not be graded."""

    lab: LabSpec
    result: LabResult | None
    problem: str
    graded_file: str
    seconds: float


def close_to_workers(root: Path) -> None:
    """Make ``root`` (checks, upload, results below it) reachable by its owner only.

    Workers never need a file of it: the grader sends them the submission's source over a pipe.
    """
    root.chmod(0o700)


def require_separate_workers(settings: GraderSettings) -> None:
    """Refuse to grade where a worker could read the exported checks.

    A worker is kept from them by bubblewrap, or, with resource limits only, by running as a
    user of its own, which only a root grader gives, and only where that user can read the
    Python installation (otherwise its workers stay root, for whom no permission holds).
    ``DEEPGRADE_ALLOW_LIMITS_ONLY=1`` grades anyway, for trusted code, as for ``grade batch``.
    """
    if (
        settings.allow_limits_only
        or isolation_level(settings.isolation) is IsolationLevel.BUBBLEWRAP
    ):
        return
    if os.geteuid() != 0:
        why = "the grader is not root, so its workers run as its own user"
    else:
        hidden = unreadable_python_folders()
        if not hidden:
            return
        why = (
            f"an unprivileged user could not read {', '.join(hidden)}, so its workers stay "
            "root; install Python where anyone can read it, as setup.sh does"
        )
    raise GraderError(
        "bubblewrap cannot isolate the workers here and " + why + ": a submission could read "
        "the checks. Grade where bubblewrap works, or set DEEPGRADE_ALLOW_LIMITS_ONLY=1 for "
        "trusted code."
    )


def grade_upload(upload: Path, source: Path, config: ExportConfig) -> Graded:
    """Grade what the student uploaded into ``upload`` with the checks exported in ``source``.

    The limits and the isolation come from the ``DEEPGRADE_*`` variables as for ``grade
    check``; the device is the CPU, which the platforms' containers have. Raises
    :class:`GraderError` where a worker could read the checks (:func:`require_separate_workers`).
    """
    start = time.monotonic()
    checks = source / CHECKS_DIR
    settings = GraderSettings().model_copy(
        update={"autograder_dir": checks, "include_hidden": True}
    )
    require_separate_workers(settings)
    lab = find_lab(config.lab, course=[checks])
    from deepgrade.engine.grading import grade_submission

    scratch = Path(tempfile.mkdtemp(prefix="deepgrade-upload-"))
    try:
        path, name = _uploaded_file(upload, lab, scratch)
        result = grade_submission(path, lab=lab.id, device="cpu", settings=settings)
    except (SubmissionError, UsageError) as exc:
        return Graded(lab, None, str(exc), "", time.monotonic() - start)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Graded(lab, result, "", name, time.monotonic() - start)


def _uploaded_file(upload: Path, lab: LabSpec, scratch: Path) -> tuple[Path, str]:
    """The notebook or module to grade: uploaded as is, or inside the one uploaded zip."""
    if candidate_files(upload):
        chosen = choose_file(upload, lab, label="your upload")
        return chosen, chosen.relative_to(upload).as_posix()
    archives = sorted(upload.rglob(f"*{ARCHIVE_SUFFIX}"))
    if len(archives) != 1:
        raise SubmissionError(
            f"upload {lab.notebook}, {lab.module} or one zip archive of either "
            f"(found {len(archives)} zip archives and no notebook or module)"
        )
    extract_archive(archives[0], scratch)
    chosen = choose_file(scratch, lab, label=archives[0].name)
    return chosen, f"{archives[0].name}/{chosen.relative_to(scratch).as_posix()}"


def check_output(check: CheckResult) -> str:
    """What a student reads of a check: a hidden one says its status only."""
    if check.hidden:
        return check.status.value
    return check.message or check.status.value


@dataclass(frozen=True)
class Line:
    """One test line of a platform's results: a check, or an exercise that ran none."""

    name: str
    score: float
    max_score: float
    output: str
    hidden: bool = False

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score - 1e-9


def lines(result: LabResult) -> list[Line]:
    """One line per check of each exercise, summing to the result's score.

    An exercise scored without its checks' shares (not run: ``missing``, a syntax error; or
    zeroed: ``forbidden``) is one line with its own score and message.
    """
    found = []
    for exercise in result.exercises:
        shares = sum(check.score for check in exercise.checks)
        if not exercise.checks or abs(shares - exercise.score) > 1e-6:
            found.append(Line(exercise.id, exercise.score, exercise.max_score, exercise.message))
            continue
        found += [
            Line(
                f"{exercise.id}: {check.label}",
                check.score,
                check.max_score,
                check_output(check),
                check.hidden,
            )
            for check in exercise.checks
        ]
    return found


def summary(graded: Graded) -> str:
    """The submission-wide text: the file graded, the total, the notes, or the problem."""
    if graded.result is None:
        return f"Your upload could not be graded: {graded.problem}"
    result = graded.result
    lines = [
        f"{graded.lab.id}: {graded.graded_file} scored {result.score:g} / {result.max_score:g}"
    ]
    lines += result.notes
    if result.not_graded:
        names = ", ".join(e.id for e in result.not_graded)
        lines.append(f"The grader failed on {names}: your course staff will grade it again.")
    return "\n".join(lines)


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


@dataclass(frozen=True)
class Platform:
    """Where a platform's grading container holds things, and the results it reads."""

    root_variable: str
    """The environment variable naming the root (so that tests run it anywhere)."""
    default_root: str
    upload: str
    """The student's upload, under the root."""
    checks: str
    """The export's checks and configuration, under the root."""
    results: Callable[[Graded, ExportConfig], object]
    """``results.json``'s content, in the platform's schema."""


def serve(platform: Platform) -> None:
    """A platform's entry point: grade the upload, write ``results/results.json``.

    A deepgrade error is one line on stderr and an exit code, so that the platform reports a
    failed autograder, not a traceback.
    """
    try:
        root = Path(os.environ.get(platform.root_variable) or platform.default_root)
        close_to_workers(root)
        source = root / platform.checks
        config = read_config(source)
        graded = grade_upload(root / platform.upload, source, config)
        write_json(root / "results" / "results.json", platform.results(graded, config))
    except DeepgradeError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        sys.exit(exc.exit_code)
