"""Grading inside a Jupyter kernel: ``check()`` for a notebook's check cells, ``score()``
for the test cells of a released lab and ``use_checks()`` for its checks cell."""

from deepgrade.notebook.check_cell import check, use_checks
from deepgrade.notebook.score_cell import score

__all__ = ["check", "score", "use_checks"]
