"""Course authoring: notebooks and student stubs generated from the solution sources.

A lab's single source is ``solutions/<folder>/<folder>.py`` in jupytext's percent format,
with the code students write between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. From it
come the solution notebook, the student module (each region replaced by a stub naming what to
implement) and the student notebook. Generated files are never edited by hand: a test fails
when they differ from what this module produces.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from deepgrade.errors import SpecError, UsageError
from deepgrade.model.spec import LabSpec

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
MANUAL_TAG = "manual:"
ANSWER_PLACEHOLDER = "YOUR ANSWER HERE"
# A markdown cell tagged manual:<id>, up to the next cell marker: a written answer.
_MANUAL_CELL = re.compile(
    r'^(# %% \[markdown\][^\n]*"manual:[^"]+"[^\n]*\n)(.*?)(?=^# %%|\Z)', re.M | re.S
)
_REGION = re.compile(
    rf"^([ \t]*){re.escape(BEGIN)}\n.*?^[ \t]*{re.escape(END)}[ \t]*\n", re.M | re.S
)


def stub_source(source: str, lab_label: str) -> str:
    """Replace every solution region with ``raise NotImplementedError("<lab>: implement X")``."""
    scopes = _function_spans(source)

    def replace(match: re.Match[str]) -> str:
        line = source.count("\n", 0, match.start()) + 1
        inside = [name for start, end, name in scopes if start <= line <= end]
        target = inside[-1] if inside else "this part"
        return f'{match.group(1)}raise NotImplementedError("{lab_label}: implement {target}")\n'

    stubbed = _REGION.sub(replace, source)
    stubbed = _MANUAL_CELL.sub(lambda m: f"{m.group(1)}# {ANSWER_PLACEHOLDER}\n\n", stubbed)
    if BEGIN in stubbed or END in stubbed:
        raise SpecError("unbalanced solution markers (each BEGIN needs an END on its own line)")
    return stubbed


def _function_spans(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, outermost first."""
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if isinstance(child, ast.FunctionDef):
                    spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, f"{name}.")

    visit(ast.parse(source), "")
    return spans


def to_notebook(source: str, lab_id: str, manual_points: dict[str, float] | None = None) -> str:
    """The notebook of a percent-format source, deterministic so that it can be compared.

    Cells holding solution regions become nbgrader solution cells; markdown cells tagged
    ``manual:<id>`` become nbgrader's manually graded answers, worth ``manual_points[id]``.
    """
    import jupytext
    import nbformat

    notebook = jupytext.reads(source, fmt="py:percent")
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "deepgrade": {"lab": lab_id},
    }
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{lab_id}-{index:03d}"
        metadata: dict[str, Any] = {}
        if cell.metadata.get("tags"):
            metadata["tags"] = list(cell.metadata["tags"])
        if cell.cell_type == "code" and (
            BEGIN in cell.source or "NotImplementedError(" in cell.source
        ):
            metadata["nbgrader"] = {
                "grade": False,
                "grade_id": cell.id,
                "locked": False,
                "schema_version": 3,
                "solution": True,
                "task": False,
            }
        manual = [tag for tag in metadata.get("tags", []) if tag.startswith(MANUAL_TAG)]
        if cell.cell_type == "markdown" and manual:
            part = manual[0].removeprefix(MANUAL_TAG)
            if manual_points is None or part not in manual_points:
                raise SpecError(f"{part}: a manual answer cell needs a [[manual]] entry")
            metadata["nbgrader"] = {
                "grade": True,
                "grade_id": part,
                "locked": False,
                "points": manual_points[part],
                "schema_version": 3,
                "solution": True,
                "task": False,
            }
        cell.metadata = metadata
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return str(nbformat.writes(notebook)) + "\n"


def lab_label(lab_id: str) -> str:
    """How stubs and notebooks name a lab: "Lab 8" for ``lab8``."""
    digits = "".join(ch for ch in lab_id if ch.isdigit())
    return f"Lab {digits}" if digits else lab_id


def generated_files(root: Path, folder: str) -> dict[Path, str]:
    """Every file generated for one lab folder, with its expected content."""
    source_path = root / "solutions" / folder / f"{folder}.py"
    lab_toml = root / "autograder" / folder / "lab.toml"
    if not source_path.is_file() or not lab_toml.is_file():
        raise UsageError(f"{folder}: needs {source_path} and {lab_toml}")
    lab = tomllib.loads(lab_toml.read_text(encoding="utf-8"))
    lab_id = str(lab["id"])
    points = {str(part["id"]): float(part["points"]) for part in lab.get("manual", [])}
    source = source_path.read_text(encoding="utf-8")
    stub = stub_source(source, lab_label(lab_id))
    return {
        root / "solutions" / folder / f"{folder}.ipynb": to_notebook(source, lab_id, points),
        root / "exercises" / folder / f"{folder}.py": stub,
        root / "exercises" / folder / f"{folder}.ipynb": to_notebook(stub, lab_id, points),
    }


def build_course(
    root: Path, labs: Iterable[str] | None = None, *, write: bool = True
) -> list[Path]:
    """Regenerate the labs' files; return those that changed (or, without ``write``, differ)."""
    folders = sorted(
        p.parent.name for p in (root / "solutions").glob("*/*.py") if p.stem == p.parent.name
    )
    if labs is not None:
        wanted = set(labs)
        folders = [f for f in folders if f in wanted or f.split("_")[0] in wanted]
    changed = []
    for folder in folders:
        for path, content in generated_files(root, folder).items():
            if path.is_file() and path.read_text(encoding="utf-8") == content:
                continue
            changed.append(path)
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
    return changed


def default_solution(spec: LabSpec) -> Path:
    """``solutions/<folder>/<folder>.py`` of the course that holds the lab's checks."""
    folder = spec.folder.resolve()
    return folder.parent.parent / "solutions" / folder.name / f"{folder.name}.py"


def owners(spec: LabSpec) -> dict[str, str]:
    """Each top-level name of the solution to the exercise that grades it: the exercise that
    names it first among what it requires (``TwoLayerNet`` requires ``Linear`` too, but
    ``Linear`` is its own exercise's), else the first that requires it at all."""
    found: dict[str, str] = {}
    for exercise in spec.exercises:
        if exercise.requires:
            found.setdefault(exercise.requires[0], exercise.id)
    for exercise in spec.exercises:
        for name in exercise.requires:
            found.setdefault(name, exercise.id)
    return found
