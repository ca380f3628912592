"""``grade new-lab``: a scaffolded lab builds and grades (its solution full marks, its stubs zero)
before and after its author adds an exercise, and the command refuses what it must without
writing anything."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from deepgrade.cli import main
from deepgrade.engine.grading import grade_submission
from deepgrade.staff.authoring import build_course
from deepgrade.staff.scaffold import Marker, new_lab
from tests.helpers import FAST, ROOT, exercise, scores, statuses

FOLDER = "lab11_convolution"
# What an author appends to the scaffolded solution and lab.toml for a second exercise.
RELU_SOURCE = '''

# %% [markdown]
# ## 2. ReLU
#
# Write `relu(x)`, the positive part of every element of `x`.


# %%
def relu(x: torch.Tensor) -> torch.Tensor:
    """max(x, 0), element by element."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, x, 0.0)
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab11.relu")
'''
RELU_CHECKS = """
[[exercises]]
id = "lab11.relu"
title = "ReLU"
points = 1.5
requires = ["relu"]
forbidden = ["relu"]

[[exercises.checks]]
kind = "reference"
name = "forward and backward on random inputs"
call = "relu"
reference = "torch.relu"
args = [{ gen = "randn", shape = [4, 5] }]
backward = true
seed = 1
"""


def new_lab_command(*args: str) -> Result:
    return CliRunner().invoke(main, ["new-lab", *args])


def course_with_pyproject(path: Path) -> Path:
    """An empty course but for the project's pyproject.toml (where the pytest markers go)."""
    path.mkdir()
    shutil.copy(ROOT / "pyproject.toml", path / "pyproject.toml")
    return path


def files_in(course: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(course.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course in which ``grade new-lab`` scaffolded lab11."""
    path = course_with_pyproject(tmp_path_factory.mktemp("new-lab") / "course")
    title = ["--title", "Convolutional networks"]
    run = new_lab_command("lab11", *title, "--folder", FOLDER, "--course", str(path))
    assert run.exit_code == 0, run.output
    assert "pytest marker lab11: added" in run.stdout
    return path


def test_the_scaffold_is_a_whole_lab_that_grades(course: Path) -> None:
    written = {path.relative_to(course).as_posix() for path in files_in(course)}
    assert written == {
        "pyproject.toml",
        "tests/labs/lab11.py",
        "tests/labs/test_lab11_grades.py",
        *(f"autograder/{FOLDER}/{name}" for name in ("lab.toml", "hidden.toml", "references.py")),
        *(
            f"{top}/{FOLDER}/{FOLDER}.{ext}"
            for top in ("solutions", "exercises")
            for ext in ("py", "ipynb")
        ),
    }
    assert (
        '    "lab11: Lab 11 (convolutional networks)",\n]'
        in (course / "pyproject.toml").read_text()
    )
    assert "pytest.mark.lab11" in (course / "tests" / "labs" / "test_lab11_grades.py").read_text()
    assert build_course(course, write=False) == []

    solution = grade_submission(
        course / "solutions" / FOLDER / f"{FOLDER}.ipynb", settings=FAST, device="cpu"
    )
    assert (solution.lab, scores(solution)) == ("lab11", {"lab11.scale": 2.0})
    stub = grade_submission(
        course / "exercises" / FOLDER / f"{FOLDER}.py", settings=FAST, device="cpu"
    )
    assert statuses(stub) == {"lab11.scale": "not_implemented"}
    assert "Lab 11: implement scale" in exercise(stub, "lab11.scale").message


def test_an_author_adds_an_exercise(course: Path, tmp_path: Path) -> None:
    course = shutil.copytree(course, tmp_path / "course")  # the other tests see the scaffold
    source = course / "solutions" / FOLDER / f"{FOLDER}.py"
    source.write_text(source.read_text() + RELU_SOURCE)
    lab_toml = course / "autograder" / FOLDER / "lab.toml"
    lab_toml.write_text(lab_toml.read_text() + RELU_CHECKS)
    assert len(build_course(course)) == 3

    solution = grade_submission(source, settings=FAST, device="cpu")
    assert scores(solution) == {"lab11.scale": 2.0, "lab11.relu": 1.5}
    assert set(statuses(solution).values()) == {"passed"}
    stub_nb = course / "exercises" / FOLDER / f"{FOLDER}.ipynb"
    stub = grade_submission(stub_nb, settings=FAST, device="cpu")
    assert (stub.score, stub.max_score) == (0.0, 3.5)
    assert set(statuses(stub).values()) == {"not_implemented"}
    assert "Lab 11: implement relu" in exercise(stub, "lab11.relu").message


def test_a_marker_already_there_is_kept_and_the_folder_comes_from_the_title(
    tmp_path: Path,
) -> None:
    course = course_with_pyproject(tmp_path / "course")
    lab = new_lab("lab7", "Team report", course=course)
    assert (lab.folder, lab.marker) == ("lab7_team_report", Marker.PRESENT)
    assert (course / "pyproject.toml").read_bytes() == (ROOT / "pyproject.toml").read_bytes()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["lab11", "--title", "Again"], "lab lab11 exists"),
        (["lab9", "--title", "Recurrent networks"], "lab lab9 exists"),  # its folder is there
        (["8", "--title", "Convolutional networks"], "'8' is not a lab id"),
        (["lab08", "--title", "Convolutional networks"], "'lab08' is not a lab id"),
        (["lab10", "--title", " "], "the title is empty"),
        (["lab10", "--title", "Attention", "--folder", "attention"], "name it lab10_NAME"),
    ],
    ids=["lab id", "folder", "bare number", "leading zero", "empty title", "folder name"],
)
def test_refusals_write_nothing(course: Path, args: list[str], words: str) -> None:
    (course / "exercises" / "lab9_recurrent").mkdir(exist_ok=True)
    before = files_in(course)
    run = new_lab_command(*args, "--course", str(course))
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr.startswith("Error: ") and words in run.stderr, run.stderr
    assert files_in(course) == before


def test_a_refusal_imports_neither_pytorch_nor_jupytext(course: Path) -> None:
    """What keeps a refusal well under a second: it reads a few files and nothing else."""
    code = (
        "import sys\n"
        "from deepgrade.cli import main\n"
        "try:\n"
        f"    main(['new-lab', 'lab11', '--title', 'T', '--course', {str(course)!r}])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, sorted({'torch', 'jupytext'} & set(sys.modules)))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout == "2 []\n", run.stderr
