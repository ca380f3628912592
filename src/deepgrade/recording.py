"""Public checks for a student release: everything ``grade check`` needs, nothing it must not see.

A student release carries the lab's public checks so that students can grade themselves, but
never the hidden checks (``hidden.toml``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from deepgrade.errors import SpecError
from deepgrade.spec import LAB_FILE, REFERENCES_FILE


def export_public_checks(lab_folder: Path, dest: Path) -> list[Path]:
    """Write the public checks of the lab in ``lab_folder`` into ``dest``; return the files written.

    ``dest`` is the release's ``autograder/<folder>/``; it is created if needed.
    """
    if not (lab_folder / LAB_FILE).is_file():
        raise SpecError(f"{lab_folder} holds no {LAB_FILE}")
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in (LAB_FILE, REFERENCES_FILE):
        if (lab_folder / name).is_file():
            written.append(Path(shutil.copyfile(lab_folder / name, dest / name)))
    return written
