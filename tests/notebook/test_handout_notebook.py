"""A released notebook checks with the checks it carries: copied alone into an empty folder,
renamed, run in a kernel that never saw its folder, or beside a module handed in instead; and
``grade update-checks`` gives it a newer release's checks (issue 13)."""

from __future__ import annotations

import io
import json
import shutil
import sys
import time
import types
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner
from jupyter_client.manager import start_new_kernel

from deepgrade.cli import main
from deepgrade.engine.grading import grade_submission
from deepgrade.engine.recording import export_public_checks
from deepgrade.errors import UsageError
from deepgrade.model import handout, spec
from deepgrade.notebook import check_cell
from deepgrade.sandbox.proctree import running, tree
from deepgrade.staff.release import checks_cell, source_notebook
from tests.helpers import FAST, LAB2_SOLUTION, LAB2_STUB_NB, ROOT

pytestmark = pytest.mark.lab2
FOLDER = "lab2_activations"


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> handout.Handout:
    folder = tmp_path_factory.mktemp("export") / FOLDER
    export_public_checks(ROOT / "autograder" / FOLDER, folder)
    return handout.pack("lab2", folder)


@pytest.fixture
def away(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A student's machine: no course checkout, an empty folder as the working directory."""
    monkeypatch.setattr(spec, "BUNDLED_AUTOGRADER", tmp_path / "no-course")
    alone = tmp_path / "alone"
    alone.mkdir()
    monkeypatch.chdir(alone)
    return alone


def solved(checks: handout.Handout) -> Any:
    lab = spec.find_lab("lab2", course=[ROOT / "autograder"], include_hidden=False)
    return source_notebook(lab, ROOT, checks)


def stub(checks: handout.Handout) -> Any:
    notebook = nbformat.read(LAB2_STUB_NB, as_version=4)
    notebook.cells.insert(0, checks_cell(checks))
    return notebook


def write(notebook: Any, path: Path) -> Path:
    nbformat.write(notebook, path)
    return path


def test_a_notebook_copied_alone_and_renamed_checks_with_its_own_checks(
    checks: handout.Handout, away: Path
) -> None:
    with pytest.raises(UsageError, match="unknown lab"):
        spec.find_lab("lab2", course=spec.course_roots())
    full = grade_submission(
        write(solved(checks), away / "lab2_activations (1).ipynb"), settings=FAST
    )
    assert not full.hidden_checks_run
    assert full.score == full.max_score > 0
    zero = grade_submission(write(stub(checks), away / "Copy of lab2.ipynb"), settings=FAST)
    assert zero.score == 0 and zero.max_score == full.max_score


def test_a_module_beside_the_released_notebook_uses_its_checks(
    checks: handout.Handout, away: Path
) -> None:
    write(stub(checks), away / "lab2_activations.ipynb")
    shutil.copy(LAB2_SOLUTION, away / "lab2_activations.py")
    graded = grade_submission(away / "lab2_activations.py", exercises=["lab2.relu"], settings=FAST)
    assert graded.score == 2.0


def test_a_kernel_finds_the_checks_cell_it_ran_or_its_notebook_file(
    checks: handout.Handout,
    away: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = [cell.source for cell in solved(checks).cells if cell.cell_type == "code"]
    monkeypatch.setattr(check_cell, "_history", lambda: ["", *code])
    check_cell.check("lab2.relu", device="cpu")
    out = capsys.readouterr().out
    assert "lab2.relu" in out and "passed" in out
    without = [c for c in code if handout.find_call(c) is None]
    monkeypatch.setattr(check_cell, "_history", lambda: ["", *without])
    submission = check_cell.history_submission("lab2")
    assert submission is not None and submission.checks_cell is None
    with pytest.raises(UsageError, match="run that cell"):
        check_cell.grade_exercise("lab2.relu", submission, "cpu", _console())
    # Jupyter's server names the kernel's notebook: its checks cell is read from the file.
    write(stub(checks), away / "mine.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(away / "mine.ipynb"))
    found = check_cell.history_submission("lab2")
    assert found is not None and found.checks_cell == handout.find_call(checks_text(checks))


def test_on_colab_the_checks_cell_comes_from_the_page(
    checks: handout.Handout, away: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Colab's kernel has no notebook file; its page sends the notebook when asked."""
    notebook = json.loads(nbformat.writes(stub(checks)))
    asked: list[str] = []

    def blocking_request(request: str, timeout_sec: float) -> Any:
        asked.append(request)
        if request != "get_ipynb":
            raise TimeoutError(request)
        return {"ipynb": notebook}

    colab = types.ModuleType("google.colab")
    message = types.ModuleType("google.colab._message")
    message.blocking_request = blocking_request  # type: ignore[attr-defined]
    colab._message = message  # type: ignore[attr-defined]
    google = types.ModuleType("google")
    google.colab = colab  # type: ignore[attr-defined]
    for name, module in [
        ("google", google),
        ("google.colab", colab),
        ("google.colab._message", message),
    ]:
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setattr(check_cell, "_history", lambda: ["", "x = 1"])
    found = check_cell.history_submission("lab2")
    assert asked == ["get_ipynb"]
    assert found is not None and found.checks_cell == handout.find_call(checks_text(checks))

    # A page that does not answer: no checks cell, and the check cell says to run it.
    def silent_page(request: str, timeout_sec: float) -> Any:
        raise TimeoutError(request)

    message.blocking_request = silent_page  # type: ignore[attr-defined]
    silent = check_cell.history_submission("lab2")
    assert silent is not None and silent.checks_cell is None


def test_use_checks_says_whether_the_cell_is_usable(
    checks: handout.Handout, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prestarted: list[object] = []
    monkeypatch.setattr(check_cell, "prestart", prestarted.append)
    call = handout.find_call(checks_text(checks))
    assert call is not None
    data = call.split('"""')[1]
    check_cell.use_checks("lab2", checks.version, data)
    assert "The checks of lab2 are ready" in capsys.readouterr().out
    check_cell.use_checks("lab2", "0" * 12, data)
    assert "Error: the checks cell was edited" in capsys.readouterr().out
    # Usable checks launch the kernel's worker template, ready for the first check cell.
    assert len(prestarted) == 1


def test_the_checks_cell_launches_a_template_that_ends_with_the_kernel(
    checks: handout.Handout, tmp_path: Path
) -> None:
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    below: set[int] = set()
    try:
        reply = client.execute_interactive(checks_text(checks), timeout=60)
        assert reply["content"]["status"] == "ok"
        kernel = manager.provisioner.pid  # a local kernel's process
        deadline = time.monotonic() + 30
        while not below and time.monotonic() < deadline:
            time.sleep(0.1)
            below = tree(kernel) - {kernel}
        assert below, "the checks cell launched no worker template"
    finally:
        client.stop_channels()
        manager.shutdown_kernel()
    deadline = time.monotonic() + 30
    while any(map(running, below)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(running, below)), "a template outlived its kernel"


def test_update_checks_replaces_only_the_checks_cell(
    checks: handout.Handout, tmp_path: Path
) -> None:
    old_checks = handout.Handout("lab2", FOLDER, "2026-01-01", {"lab.toml": b'id = "lab2"\n'})
    mine = write(stub(old_checks), tmp_path / "mine.ipynb")
    before = json.loads(mine.read_text())
    newer = write(stub(checks), tmp_path / "release.ipynb")
    result = CliRunner().invoke(main, ["update-checks", str(mine), "--from", str(newer)])
    assert result.exit_code == 0, result.output
    assert f"now version {checks.version}" in result.output
    after = json.loads(mine.read_text())
    changed = [
        i for i, (a, b) in enumerate(zip(before["cells"], after["cells"], strict=True)) if a != b
    ]
    assert changed == [0] and len(after["cells"]) == len(before["cells"])
    assert handout.parse("".join(after["cells"][0]["source"])) == checks
    again = CliRunner().invoke(main, ["update-checks", str(mine), "--from", str(newer)])
    assert "already version" in again.output


def test_update_checks_refuses_another_lab_or_a_release_without_checks(
    checks: handout.Handout, tmp_path: Path
) -> None:
    other = write(stub(handout.Handout("lab3", "f", "x", {"lab.toml": b""})), tmp_path / "o.ipynb")
    mine = write(stub(checks), tmp_path / "mine.ipynb")
    wrong = CliRunner().invoke(main, ["update-checks", str(mine), "--from", str(other)])
    assert wrong.exit_code == 2 and "holds the checks of lab3" in wrong.output
    plain = CliRunner().invoke(main, ["update-checks", str(mine), "--from", str(LAB2_STUB_NB)])
    assert plain.exit_code == 2 and "has no checks cell" in plain.output


def test_staff_grading_never_uses_a_notebooks_checks(
    checks: handout.Handout, tmp_path: Path
) -> None:
    """The cell is the student's: staff's configured checks ignore it, and where the course is
    on the machine, a cell whose checks differ from the course's is ignored too."""
    folder = tmp_path / "lab2_activations"
    checks.write(tmp_path)
    toml = folder / "lab.toml"
    toml.write_text(toml.read_text().replace("points = 2.0", "points = 200.0", 1))
    forged = handout.pack("lab2", folder)
    path = write(solved(forged), tmp_path / "lab2_activations.ipynb")
    staff = FAST.model_copy(update={"autograder_dir": ROOT / "autograder"})
    assert grade_submission(path, exercises=["lab2.sigmoid"], settings=staff).max_score == 2.0
    assert grade_submission(path, exercises=["lab2.sigmoid"], settings=FAST).max_score == 2.0


def test_a_damaged_checks_cell_is_said_where_nothing_else_has_the_checks(
    checks: handout.Handout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = solved(checks)
    first = next(c for c in notebook.cells if handout.find_call(c.source))
    first.source = first.source.replace(checks.version, "0" * 12)
    path = write(notebook, tmp_path / "lab2_activations.ipynb")
    # Where the course is on the machine, its checks grade the notebook.
    assert grade_submission(path, exercises=["lab2.relu"], settings=FAST).score == 2.0
    monkeypatch.setattr(spec, "BUNDLED_AUTOGRADER", tmp_path / "no-course")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert "cannot use the notebook's checks cell: the checks cell was edited" in result.output


def checks_text(checks: handout.Handout) -> str:
    return handout.cell_source(checks)


def _console() -> Any:
    from rich.console import Console

    return Console(file=io.StringIO())
