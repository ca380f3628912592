"""Autograders for the platforms where courses already grade: Gradescope and PrairieLearn.

``grade export gradescope LAB --out DIR`` writes ``DIR/<lab>-autograder.zip`` in Gradescope's
autograder format; ``grade export prairielearn LAB --out DIR`` writes a PrairieLearn question
with an external grader, and the Dockerfile of its image. Both ship the lab's public and hidden
checks beside a call of the student package's entry points (``deepgrade.platforms``), which
grade the upload and write the platform's ``results.json``. docs/exports.md shows the staff how
to upload each.
"""

from __future__ import annotations

import html
import json
import shutil
import stat
import uuid
import zipfile
from pathlib import Path

from deepgrade.errors import UsageError
from deepgrade.model.spec import (
    HIDDEN_FILE,
    LAB_FILE,
    RECORDED_FILE,
    REFERENCES_FILE,
    LabSpec,
    course_roots,
    find_lab,
)
from deepgrade.platforms.hosted import CHECKS_DIR, CONFIG_FILE, ExportConfig, HiddenVisibility
from deepgrade.settings import GraderSettings
from deepgrade.version import __version__

# The CPU build that the course is tested with (README, Install).
TORCH_VERSION = "2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Gradescope's base images are Ubuntu 22.04 (Python 3.10); deepgrade needs 3.11, which its
# universe archive has. The autograder's Python lives outside /autograder: run_autograder closes
# /autograder to the workers, which must still read the interpreter they run.
GRADESCOPE_VENV = "/opt/deepgrade"
PRAIRIELEARN_ENTRYPOINT = "/grade/tests/run.sh"
PRAIRIELEARN_IMAGE = "deepgrade-grader"
# PrairieLearn's limit on external grading jobs, in seconds.
PRAIRIELEARN_MAX_TIMEOUT = 600
# A fixed namespace: the same lab exports to the same question uuid, so PrairieLearn keeps its
# submissions when the question is exported again.
_QUESTION_NAMESPACE = uuid.UUID("8f5c3c1e-6b1f-4f43-9a55-6c1d2b9e0d51")
_EXECUTABLE = 0o755


def export_gradescope(
    lab: str, out: Path, *, hidden_visibility: HiddenVisibility = "after_published"
) -> Path:
    """Write ``out/<lab>-autograder.zip``; its path."""
    spec = _find(lab)
    config = ExportConfig(lab=spec.id, deepgrade=__version__, hidden_visibility=hidden_visibility)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{spec.id}-autograder.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "setup.sh", _gradescope_setup(), executable=True)
        _add(archive, "run_autograder", _gradescope_run(), executable=True)
        _add(archive, CONFIG_FILE, config.model_dump_json(indent=1) + "\n")
        for path in _lab_files(spec):
            _add(archive, f"{CHECKS_DIR}/{spec.folder.name}/{path.name}", path.read_bytes())
    return target


def export_prairielearn(
    lab: str,
    out: Path,
    *,
    image: str = PRAIRIELEARN_IMAGE,
    timeout: int = PRAIRIELEARN_MAX_TIMEOUT,
    overwrite: bool = False,
) -> Path:
    """Write the question ``out/<lab folder>/`` and ``out/deepgrade-image/Dockerfile``; the
    question's folder."""
    if not 1 <= timeout <= PRAIRIELEARN_MAX_TIMEOUT:
        raise UsageError(f"PrairieLearn's timeout is 1 to {PRAIRIELEARN_MAX_TIMEOUT} seconds")
    spec = _find(lab)
    question = out / spec.folder.name
    if question.exists():
        if not overwrite:
            raise UsageError(f"{question} already exists (pass --force to replace it)")
        shutil.rmtree(question)
    tests = question / "tests"
    checks = tests / CHECKS_DIR / spec.folder.name
    checks.mkdir(parents=True)
    for path in _lab_files(spec):
        shutil.copyfile(path, checks / path.name)
    config = ExportConfig(lab=spec.id, deepgrade=__version__)
    (tests / CONFIG_FILE).write_text(config.model_dump_json(indent=1) + "\n", encoding="utf-8")
    run = tests / "run.sh"
    run.write_text(_prairielearn_run(), encoding="utf-8")
    run.chmod(_EXECUTABLE)
    info = _prairielearn_info(spec, image, timeout)
    (question / "info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (question / "question.html").write_text(_prairielearn_html(spec), encoding="utf-8")
    docker = out / "deepgrade-image"
    docker.mkdir(exist_ok=True)
    (docker / "Dockerfile").write_text(_prairielearn_dockerfile(), encoding="utf-8")
    return question


def _find(lab: str) -> LabSpec:
    # The same checks as `grade check` and `grade batch` find: the configured folder, else the
    # bundled course. Hidden checks included: the export is the grading side.
    return find_lab(lab, course=course_roots(GraderSettings().autograder_dir))


def _lab_files(spec: LabSpec) -> list[Path]:
    names = (LAB_FILE, HIDDEN_FILE, REFERENCES_FILE, RECORDED_FILE)
    return [spec.folder / name for name in names if (spec.folder / name).is_file()]


def _add(
    archive: zipfile.ZipFile, name: str, data: str | bytes, *, executable: bool = False
) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    # Gradescope runs run_autograder directly: its mode must survive unzipping.
    info.external_attr = (stat.S_IFREG | (_EXECUTABLE if executable else 0o644)) << 16
    archive.writestr(info, data)


def _pip_installs(pip: str) -> str:
    return (
        f"{pip} install --no-cache-dir torch=={TORCH_VERSION} --index-url {TORCH_CPU_INDEX}\n"
        f"{pip} install --no-cache-dir deepgrade=={__version__}\n"
    )


def _gradescope_setup() -> str:
    return (
        "#!/usr/bin/env bash\n"
        "# Gradescope runs this once, as root, when it builds the autograder's image.\n"
        "set -euo pipefail\n"
        "export DEBIAN_FRONTEND=noninteractive\n"
        "apt-get update\n"
        "apt-get install -y --no-install-recommends python3.11 python3.11-venv bubblewrap\n"
        f"python3.11 -m venv {GRADESCOPE_VENV}\n" + _pip_installs(f"{GRADESCOPE_VENV}/bin/pip")
    )


def _gradescope_run() -> str:
    return (
        "#!/usr/bin/env bash\n"
        "# Gradescope runs this for each submission: it grades /autograder/submission and writes\n"
        "# /autograder/results/results.json (AUTOGRADER_ROOT replaces /autograder).\n"
        "set -euo pipefail\n"
        f'exec "${{DEEPGRADE_PYTHON:-{GRADESCOPE_VENV}/bin/python}}" '
        "-m deepgrade.platforms.gradescope\n"
    )


def _prairielearn_run() -> str:
    return (
        "#!/bin/sh\n"
        "# PrairieLearn runs this in the question's image: it grades /grade/student and writes\n"
        "# /grade/results/results.json (GRADE_ROOT replaces /grade).\n"
        'exec "${DEEPGRADE_PYTHON:-python3}" -m deepgrade.platforms.prairielearn\n'
    )


def _prairielearn_info(spec: LabSpec, image: str, timeout: int) -> dict[str, object]:
    return {
        "uuid": str(uuid.uuid5(_QUESTION_NAMESPACE, spec.id)),
        "type": "v3",
        "title": f"{spec.id}: {spec.title}",
        "topic": "deepgrade",
        "tags": ["deepgrade"],
        "singleVariant": True,
        "gradingMethod": "External",
        "externalGradingOptions": {
            "enabled": True,
            "image": image,
            "entrypoint": PRAIRIELEARN_ENTRYPOINT,
            "timeout": timeout,
        },
    }


def _prairielearn_html(spec: LabSpec) -> str:
    notebook, module = html.escape(spec.notebook), html.escape(spec.module)
    return (
        "<pl-question-panel>\n"
        f"  <p>Upload your notebook <code>{notebook}</code> (or the module <code>{module}</code>,"
        " or one zip archive of either). It is graded with the public and the hidden checks.</p>\n"
        "</pl-question-panel>\n\n"
        '<pl-file-upload optional-file-patterns="*.ipynb, *.py, *.zip"></pl-file-upload>\n\n'
        "<pl-submission-panel>\n"
        "  <pl-external-grader-results></pl-external-grader-results>\n"
        "  <pl-file-preview></pl-file-preview>\n"
        "</pl-submission-panel>\n"
    )


def _prairielearn_dockerfile() -> str:
    return (
        "# The image of deepgrade's PrairieLearn questions: build it, push it to Docker Hub and\n"
        "# give its name to `grade export prairielearn --image` (docs/exports.md).\n"
        "FROM python:3.11-slim\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap \\\n"
        "    && rm -rf /var/lib/apt/lists/*\n"
        + "".join(f"RUN {line}\n" for line in _pip_installs("pip").splitlines())
    )
