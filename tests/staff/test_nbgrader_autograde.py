"""Test cells under nbgrader: ``score()`` in-process, then real ``nbgrader validate`` and
``nbgrader autograde`` runs of the released Lab 2 (each runs a kernel: three in all)."""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.validator import Validator
from traitlets.config import Config

from deepgrade.engine import grading
from deepgrade.engine.grading import grade_submission
from deepgrade.engine.loader import load_submission
from deepgrade.notebook import check_cell as notebook
from deepgrade.notebook import score_cell as testcell
from deepgrade.settings import GraderSettings
from deepgrade.staff.release import release_lab
from tests.helpers import LAB2_SOLUTION, LAB2_SOLUTION_NB, LAB2_STUB, ROOT

pytestmark = pytest.mark.lab2

FOLDER = "lab2_activations"
RELU_BUG = ("torch.where(x > 0, grad_output, 0.0)", "grad_output")
# A correct sigmoid whose cell warns and writes to stderr, at run time and when called.
NOISY_SIGMOID = (
    "e = torch.exp(-x.abs())",
    'warnings.warn("a student warning", UserWarning)\n        e = torch.exp(-x.abs())',
)
NOISY_PREAMBLE = (
    "import sys\nimport warnings\n\n"
    'print("a student note on stderr", file=sys.stderr)\n'
    'warnings.warn("a student warning at run time", UserWarning)\n\n'
)
# A score cell starts a worker and reruns the kernel's history: allow for a loaded machine.
CELL_TIMEOUT = 180


def _history(path: Path, *edits: tuple[str, str]) -> list[str]:
    sources = load_submission(path).sources
    for old, new in edits:
        assert sum(old in source for source in sources) == 1, old
        sources = [source.replace(old, new) for source in sources]
    return ["", *sources, 'from deepgrade.notebook import score\nscore("lab2.relu")']


def test_score_returns_the_partial_credit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(notebook, "_history", lambda: _history(LAB2_SOLUTION, RELU_BUG))
    earned = testcell.score("lab2.relu")
    assert 0 < earned < 2.0
    captured = capsys.readouterr()
    assert "backward at the kink" in captured.out
    assert captured.err == ""


def test_score_raises_under_nbgrader_when_nothing_is_earned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    monkeypatch.setattr(notebook, "_history", lambda: _history(LAB2_STUB))
    with pytest.raises(AssertionError, match=r"lab2.relu earned 0 of 2 points \(not_implemented\)"):
        testcell.score("lab2.relu")


def test_stderr_while_grading_goes_to_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """nbgrader zeroes a test cell with stderr output; a warning is text written there."""
    real = grading.grade_cells

    def noisy(*args: Any, **kwargs: Any) -> Any:
        message = warnings.formatwarning("a warning while grading", UserWarning, "torch.py", 1)
        sys.stderr.write(message)
        return real(*args, **kwargs)

    monkeypatch.setattr(grading, "grade_cells", noisy)
    monkeypatch.setattr(notebook, "_history", lambda: _history(LAB2_SOLUTION))
    assert testcell.score("lab2.relu") == 2.0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "UserWarning: a warning while grading" in captured.out


def test_score_does_nothing_inside_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPGRADE_IN_WORKER", "1")
    monkeypatch.setattr(notebook, "_history", lambda: pytest.fail("must not grade"))
    assert testcell.score("lab2.relu") == 0.0


# -- real nbgrader -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course_dir = tmp_path_factory.mktemp("course")
    release_lab("lab2", course_dir=course_dir)
    return course_dir


def _config(course_dir: Path) -> Config:
    config = Config()
    config.CourseDirectory.root = str(course_dir)
    config.Execute.timeout = CELL_TIMEOUT
    return config


def _with_solutions(released: Path, target: Path, *edits: tuple[str, str]) -> None:
    """The released notebook with the solution code typed into its solution cells."""
    solutions = {
        cell.metadata.nbgrader.grade_id: cell.source
        for cell in nbformat.read(LAB2_SOLUTION_NB, as_version=4).cells
        if "nbgrader" in cell.metadata
    }
    student = nbformat.read(released, as_version=4)
    for cell in student.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = solutions[meta["grade_id"]]
    for old, new in edits:
        hits = [cell for cell in student.cells if old in cell.source]
        assert len(hits) == 1, old
        hits[0].source = hits[0].source.replace(old, new)
    first = next(c for c in student.cells if c.metadata.get("nbgrader", {}).get("solution"))
    first.source = NOISY_PREAMBLE + first.source
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student, target)


@pytest.mark.slow
def test_validate_reports_every_stub(course: Path, tmp_path: Path) -> None:
    work = tmp_path / FOLDER
    shutil.copytree(course / "release" / FOLDER, work)
    results = Validator(config=_config(course)).validate(str(work / f"{FOLDER}.ipynb"))
    assert set(results) == {"failed"}
    failed = results["failed"]
    assert len(failed) == 13
    assert all("earned 0 of" in cell["raw_error"] for cell in failed)
    assert all("not_implemented" in cell["raw_error"] for cell in failed)
    assert 'score("lab2.sigmoid")' in failed[0]["source"]


@pytest.mark.slow
def test_validate_passes_with_the_solutions_and_warnings(course: Path, tmp_path: Path) -> None:
    work = tmp_path / FOLDER
    shutil.copytree(course / "release" / FOLDER, work)
    _with_solutions(course / "release" / FOLDER / f"{FOLDER}.ipynb", work / f"{FOLDER}.ipynb")
    executed = Validator(config=_config(course)).validate(str(work / f"{FOLDER}.ipynb"))
    assert executed == {}


@pytest.mark.slow
def test_autograde_writes_deepgrade_partial_credit(
    course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted = course / "submitted" / "alice" / FOLDER
    shutil.copytree(course / "release" / FOLDER, submitted)
    notebook_path = submitted / f"{FOLDER}.ipynb"
    _with_solutions(notebook_path, notebook_path, RELU_BUG, NOISY_SIGMOID)
    # The full checks, hidden ones included, as staff run them.
    monkeypatch.setenv("DEEPGRADE_AUTOGRADER_DIR", str(ROOT / "autograder"))
    outcome = NbGraderAPI(config=_config(course)).autograde(FOLDER, "alice")
    assert outcome["success"], outcome.get("log")
    expected = grade_submission(
        notebook_path, exercises=["lab2.relu"], settings=GraderSettings(), device="cpu"
    ).exercises[0]
    assert 0 < expected.score < expected.max_score
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        graded = gradebook.find_submission_notebook(FOLDER, FOLDER, "alice")
        scores = {grade.name: grade.auto_score for grade in graded.grades}
        points = {grade.name: grade.max_score for grade in graded.grades}
    assert scores.pop("lab2_relu") == pytest.approx(expected.score)
    assert scores == {name: points[name] for name in scores}
