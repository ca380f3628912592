"""Every solution notebook runs top to bottom in a Jupyter kernel, and its check cells pass.

This is what a student sees after finishing a lab: the figures draw, the demos run, and each
``check(...)`` cell grades the kernel's work in a worker and reports it as passed.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import ROOT

NOTEBOOKS = sorted(ROOT.glob("solutions/*/*.ipynb"))


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_solution_notebook_runs_and_its_checks_pass(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    checks = [c for c in notebook.cells if c.cell_type == "code" and "check(" in c.source]
    assert checks, "a lab notebook has check cells"
    for cell in checks:
        text = _text(cell)
        assert "passed" in text, cell.source
        for status in ("failed", "error", "timeout", "forbidden", "not_implemented", "missing"):
            assert status not in text, f"{cell.source}\n{text}"
