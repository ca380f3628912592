"""What deepgrade's nbgrader modules share: a course folder's own nbgrader configuration, and
the programs nbgrader starts."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path
from typing import Any

CONFIG_FILE = "nbgrader_config.py"


def course_config(course_dir: Path) -> Any:
    """A traitlets ``Config`` for the course at ``course_dir``, with its ``nbgrader_config.py``.

    nbgrader reads that file itself only from the working directory; staff may run deepgrade from
    anywhere, so the course's settings (database, folder names) are loaded explicitly. Every use
    of nbgrader starts here, so this is also where nbgrader's own programs are made findable.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    scripts_first_on_path()
    config = Config()
    if (course_dir / CONFIG_FILE).is_file():
        config.merge(PyFileConfigLoader(CONFIG_FILE, path=str(course_dir)).load_config())
    config.CourseDirectory.root = str(course_dir)
    return config


def scripts_first_on_path() -> None:
    """Put this interpreter's scripts folder first on ``PATH``, for the programs nbgrader starts.

    nbgrader runs ``alembic`` (its gradebook's migrations) by name; when ``grade`` is run by its
    full path (pipx, a system script, a cron job) the environment is not activated and the
    ``alembic`` installed beside nbgrader is not on ``PATH``, or another one is.
    """
    scripts = sysconfig.get_path("scripts")
    entries = os.environ.get("PATH", "").split(os.pathsep)
    if entries[0] != scripts:
        os.environ["PATH"] = os.pathsep.join([scripts, *(e for e in entries if e and e != scripts)])
