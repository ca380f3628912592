"""Grading inside a Jupyter kernel: ``check()`` for a notebook's check cells and ``score()``
for the test cells of a released lab."""

from deepgrade.notebook.check_cell import check
from deepgrade.notebook.score_cell import score

__all__ = ["check", "score"]
