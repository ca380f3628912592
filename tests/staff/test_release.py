"""``grade release``: every lab goes through nbgrader's generate_assignment, and nothing the
students must not see ships with it (solution code, hidden checks, hidden seeds)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner
from nbgrader.api import Gradebook

from deepgrade.cli import main
from deepgrade.engine.grading import grade_submission
from deepgrade.errors import SpecError, UsageError
from deepgrade.model import handout
from deepgrade.model.spec import load_lab
from deepgrade.staff.release import release_lab, source_notebook
from tests.helpers import FAST, LAB2_SOLUTION, ROOT

FOLDERS = sorted(path.parent.name for path in (ROOT / "autograder").glob("*/lab.toml"))
_REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION", re.M | re.S)
# Lines that say nothing about a solution: a bare keyword, a closing bracket, or returning
# names computed on earlier lines (those earlier lines are what the scan looks for).
_TRIVIAL = re.compile(r"(pass|continue|break|else:|try:|finally:|[)\]}]+,?|return( \w+(, \w+)*)?)")


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One nbgrader course in which every lab has been released."""
    course_dir = tmp_path_factory.mktemp("course")
    for folder in FOLDERS:
        report = release_lab(folder, course_dir=course_dir)
        assert report.notebook == course_dir / "release" / folder / f"{folder}.ipynb"
    return course_dir


def _texts(folder: Path) -> Iterator[tuple[str, str]]:
    """(name, text) of every released file; archives (recorded data) member by member, and
    the files packed in a notebook's checks cell as files of their own."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        yield from _members(path.name, path.read_bytes())
        if path.suffix == ".ipynb":
            for cell in json.loads(path.read_text())["cells"]:
                call = handout.find_call("".join(cell["source"]))
                if call is not None:
                    for name, data in handout.parse(call).files.items():
                        yield from _members(f"{path.name}/{name}", data)


def _members(name: str, data: bytes) -> Iterator[tuple[str, str]]:
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield f"{name}:{member}", archive.read(member).decode("latin-1")
    else:
        yield name, data.decode("utf-8", errors="replace")


def _hints(value: Any) -> Iterator[str]:
    """Every hint in a lab.toml: the messages students are shown when a check fails."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "hint" and isinstance(item, str):
                yield item
            else:
                yield from _hints(item)
    elif isinstance(value, list):
        for item in value:
            yield from _hints(item)


def _seeds(value: Any) -> Iterator[int]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "seed" and isinstance(item, int):
                yield item
            else:
                yield from _seeds(item)
    elif isinstance(value, list):
        for item in value:
            yield from _seeds(item)


def solution_lines(folder: str) -> set[str]:
    """The solution's lines that a release must not contain.

    Every line inside a ``### BEGIN SOLUTION`` region of ``solutions/<folder>/<folder>.py``,
    stripped, except blank and comment lines, trivial lines (``_TRIVIAL``) and lines that
    the course gives students anyway: the generated stub module (given code and text) and
    the public hints of ``lab.toml``.
    """
    source = (ROOT / "solutions" / folder / f"{folder}.py").read_text(encoding="utf-8")
    public = (ROOT / "exercises" / folder / f"{folder}.py").read_text(encoding="utf-8")
    lab = tomllib.loads((ROOT / "autograder" / folder / "lab.toml").read_text(encoding="utf-8"))
    public += "\n".join(_hints(lab))
    lines = {
        line.strip() for match in _REGION.finditer(source) for line in match.group(1).splitlines()
    }
    return {
        line
        for line in lines
        if line and not line.startswith("#") and not _TRIVIAL.fullmatch(line) and line not in public
    }


def test_every_lab_is_released_with_one_test_cell_per_exercise(course: Path) -> None:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for folder in FOLDERS:
            lab = load_lab(ROOT / "autograder" / folder, include_hidden=False)
            released = course / "release" / folder
            notebook = nbformat.read(released / f"{folder}.ipynb", as_version=4)
            tests = {
                cell.metadata.nbgrader.grade_id: cell
                for cell in notebook.cells
                if cell.metadata.get("nbgrader", {}).get("grade")
                and not cell.metadata.nbgrader.get("solution")
            }
            expected = {e.id.replace(".", "_"): e for e in lab.exercises}
            assert sorted(tests) == sorted(expected), folder
            for grade_id, exercise in expected.items():
                cell = tests[grade_id]
                assert cell.metadata.nbgrader.points == exercise.points
                assert cell.metadata.nbgrader.locked
                assert (
                    cell.source == f'from deepgrade.notebook import score\n\nscore("{exercise.id}")'
                )
            # nbgrader registered the assignment and its grade cells (manual parts included).
            cells = {
                c.name: c.max_score for c in gradebook.find_notebook(folder, folder).grade_cells
            }
            manual = {part.id.replace(".", "_"): part.points for part in lab.manual}
            assert cells == {g: e.points for g, e in expected.items()} | manual
            # The notebook alone: its checks cell carries the public checks.
            shipped = {
                p.relative_to(released).as_posix() for p in released.rglob("*") if p.is_file()
            }
            assert shipped == {f"{folder}.ipynb"}
            carried = [c for c in notebook.cells if handout.find_call(c.source)]
            assert len(carried) == 1 and carried[0].metadata.nbgrader.locked
            checks = handout.parse(carried[0].source)
            assert (checks.lab, checks.folder) == (lab.id, folder)
            assert (
                checks.files["lab.toml"] == (ROOT / "autograder" / folder / "lab.toml").read_bytes()
            )
            assert (course / "source" / folder / f"{folder}.ipynb").is_file()


def test_stubs_come_from_nbgrader(course: Path) -> None:
    text = (course / "release" / "lab2_activations" / "lab2_activations.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "raise NotImplementedError(" in text


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_solution_code_is_released(course: Path, folder: str) -> None:
    lines = solution_lines(folder)
    assert lines, "the scan must have something to look for"
    leaks = [
        f"{name}: {line}"
        for name, text in _texts(course / "release" / folder)
        for line in sorted(lines)
        if line in text
    ]
    assert not leaks, "solution code in the release:\n" + "\n".join(leaks)


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_hidden_check_or_seed_is_released(course: Path, folder: str) -> None:
    lab_dir = ROOT / "autograder" / folder
    public = tomllib.loads((lab_dir / "lab.toml").read_text(encoding="utf-8"))
    hidden = tomllib.loads((lab_dir / "hidden.toml").read_text(encoding="utf-8"))
    public_names = {c["name"] for e in public["exercises"] for c in e.get("checks", [])}
    hidden_names = {c["name"] for e in hidden.get("exercises", []) for c in e.get("checks", [])}
    names = hidden_names - public_names
    seeds = set(_seeds(hidden)) - set(_seeds(public))
    assert names and seeds, "the scan must have something to look for"
    released = course / "release" / folder
    assert not list(released.rglob("hidden.toml"))
    found = []
    for name, text in _texts(released):
        if name.endswith(".ipynb"):
            # The notebook's prose and code (its checks cell's files come as files of their
            # own): a check name there is a phrase.
            continue
        found += [f"{name}: check {n!r}" for n in names if _mentions(name, text, n)]
        found += [f"{name}: seed {s}" for s in seeds if _seed_in(text, s)]
    assert not found, "hidden checks in the release:\n" + "\n".join(found)


def _mentions(name: str, text: str, phrase: str) -> bool:
    """A check's name in a text file is a quoted string; in an archive a raw one."""
    return (phrase in text) if ":" in name else (f'"{phrase}"' in text)


def _seed_in(text: str, seed: int) -> bool:
    """A seed written as such (``seed = 9011``, ``"seed": 9011``), or any long seed."""
    if re.search(rf"seed\W{{1,4}}{seed}\b", text):
        return True
    return seed >= 100 and re.search(rf"\b{seed}\b", text) is not None


def test_release_to_a_folder_from_the_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["release", "lab2", "--to", str(tmp_path)])
    assert result.exit_code == 0, result.output
    released = tmp_path / "lab2_activations"
    assert sorted(p.name for p in released.iterdir()) == ["lab2_activations.ipynb"]
    assert "released lab2" in result.output
    # Here, where the course is, its own checks grade a module handed in beside the notebook
    # (on a student's machine the notebook's checks do: tests/notebook/test_handout_notebook.py).
    shutil.copy(LAB2_SOLUTION, released / "lab2_activations.py")
    graded = grade_submission(
        released / "lab2_activations.py", exercises=["lab2.sigmoid"], settings=FAST, device="cpu"
    )
    assert graded.hidden_checks_run
    assert graded.score == 2.0
    again = CliRunner().invoke(main, ["release", "lab2_activations", "--to", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output
    forced = CliRunner().invoke(main, ["release", "lab2", "--to", str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output


@pytest.mark.slow
def test_release_by_the_scripts_full_path_without_an_activated_environment(
    tmp_path: Path,
) -> None:
    """As pipx or a system script runs it: nbgrader still finds the alembic installed beside it
    (its gradebook's migrations), which is not on this PATH."""
    grade = Path(sys.executable).parent / "grade"
    assert shutil.which("alembic", path="/usr/bin:/bin") is None
    run = subprocess.run(
        [grade, "release", "lab2", "--to", str(tmp_path / "handout")],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "handout" / "lab2_activations" / "lab2_activations.ipynb").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["release", "lab99", "--to", "x"], "unknown lab 'lab99' (known labs: lab1, lab2"),
        (["release", "lab2"], "give exactly one destination"),
        (["release", "lab2", "--to", "x", "--course", "y"], "give exactly one destination"),
    ],
)
def test_release_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    with CliRunner().isolated_filesystem(temp_dir=tmp_path):
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert f"Error: {message}" in result.output


def _course_copy(tmp_path: Path, edit: str, replacement: str) -> Path:
    """A course root with Lab 2's checks and a solution notebook with one edited cell."""
    folder = "lab2_activations"
    (tmp_path / "autograder" / folder).mkdir(parents=True)
    (tmp_path / "solutions" / folder).mkdir(parents=True)
    lab_toml = (ROOT / "autograder" / folder / "lab.toml").read_text(encoding="utf-8")
    (tmp_path / "autograder" / folder / "lab.toml").write_text(lab_toml, encoding="utf-8")
    notebook = json.loads((ROOT / "solutions" / folder / f"{folder}.ipynb").read_text())
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if edit in source:
            cell["source"] = source.replace(edit, replacement)
    (tmp_path / "solutions" / folder / f"{folder}.ipynb").write_text(json.dumps(notebook))
    return tmp_path


def test_an_exercise_without_a_check_cell_is_a_spec_error(tmp_path: Path) -> None:
    root = _course_copy(tmp_path, 'check("lab2.d_tanh")\n', "")
    lab = load_lab(root / "autograder" / "lab2_activations", include_hidden=False)
    with pytest.raises(SpecError, match=r"no check cell for lab2\.d_tanh"):
        source_notebook(lab, root)


def test_a_check_cell_with_other_code_is_a_spec_error(tmp_path: Path) -> None:
    root = _course_copy(tmp_path, 'check("lab2.relu")', 'check("lab2.relu")\nprint("done")')
    lab = load_lab(root / "autograder" / "lab2_activations", include_hidden=False)
    with pytest.raises(SpecError, match="holds other code"):
        source_notebook(lab, root)


def test_release_api_needs_a_destination() -> None:
    with pytest.raises(UsageError):
        release_lab("lab2")
