"""The package's layout: every layer imports on its own (lint-imports checks their order)."""

from __future__ import annotations

import subprocess
import sys

SUBPACKAGES = (
    "model",
    "sandbox",
    "sandbox.worker",
    "engine",
    "reports",
    "notebook",
    "platforms",
    "staff",
)


def test_each_subpackage_imports_on_its_own() -> None:
    for name in SUBPACKAGES:
        done = subprocess.run(
            [sys.executable, "-c", f"import deepgrade.{name}"], capture_output=True, text=True
        )
        assert done.returncode == 0, f"deepgrade.{name}: {done.stderr}"
