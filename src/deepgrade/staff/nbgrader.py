"""What deepgrade's nbgrader modules share: a course folder's own nbgrader configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONFIG_FILE = "nbgrader_config.py"


def course_config(course_dir: Path) -> Any:
    """A traitlets ``Config`` for the course at ``course_dir``, with its ``nbgrader_config.py``.

    nbgrader reads that file itself only from the working directory; staff may run deepgrade from
    anywhere, so the course's settings (database, folder names) are loaded explicitly.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    if (course_dir / CONFIG_FILE).is_file():
        config.merge(PyFileConfigLoader(CONFIG_FILE, path=str(course_dir)).load_config())
    config.CourseDirectory.root = str(course_dir)
    return config
