"""``grade update-checks``: give a student's notebook the checks cell of a newer release.

When staff fix a check, they release the lab again; a student keeps their own notebook (their
answers) and takes only the new release's checks cell into it. Nothing else changes, and the
notebook is replaced in one step, so an interrupted update leaves the old file whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from deepgrade.engine.loader import metadata_lab, read_notebook
from deepgrade.errors import SpecError, UsageError
from deepgrade.model import handout


class ChecksUpdate(BaseModel):
    """What ``update_checks`` did: the lab, and the versions of its checks before and after."""

    lab: str
    before: str | None
    after: str
    released: str


def update_checks(notebook: Path, release: Path) -> ChecksUpdate:
    """Put the checks cell of the released notebook ``release`` into ``notebook``.

    The cell replaces the notebook's own checks cell, or goes before its first code cell when
    it has none. Refused when the two notebooks are of different labs.
    """
    new = handout.checks_cell_of(read_notebook(release))
    if new is None:
        raise UsageError(f"{release} has no checks cell: give the lab's released notebook")
    new_cell, new_call = new
    try:
        checks = handout.parse(new_call)
    except SpecError as exc:
        raise UsageError(f"{release}: {exc}") from None
    data = read_notebook(notebook)
    found = handout.checks_cell_of(data)
    old_cell, old_call = found if found is not None else (None, None)
    lab = (handout.lab_of(old_call) if old_call else None) or metadata_lab(data)
    if lab is not None and lab != checks.lab:
        raise UsageError(f"{release} holds the checks of {checks.lab}, but {notebook} is {lab}'s")
    cells: list[Any] = data["cells"]
    if old_cell is not None:
        cells[cells.index(old_cell)] = new_cell
    else:
        first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), 0)
        cells.insert(first_code, new_cell)
    _replace(notebook, data)
    before = handout.version_of(old_call) if old_call is not None else None
    return ChecksUpdate(
        lab=checks.lab, before=before, after=checks.version, released=checks.released
    )


def _replace(path: Path, data: Any) -> None:
    # Written beside the notebook and renamed over it: never half a notebook.
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1, ensure_ascii=False)
            file.write("\n")
        Path(scratch).replace(path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
