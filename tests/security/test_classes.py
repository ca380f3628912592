"""Grading a class: checks come from the course, hidden inputs never reach a student, a batch
refuses limits-only isolation unless asked, and no CSV cell runs a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.engine.grading import grade_cells, grade_submission
from deepgrade.engine.loader import load_submission
from deepgrade.engine.recording import export_public_checks, resolve_reference
from deepgrade.engine.validation import validate_request
from deepgrade.errors import SpecError, UsageError
from deepgrade.model import spec
from deepgrade.model.records import RecordStatus, SubmissionRecord, csv_text, read_records
from deepgrade.model.results import ExerciseResult, LabResult, Status
from deepgrade.model.spec import REFERENCES_FILE, LabSpec, load_lab
from deepgrade.sandbox import templates as preload
from deepgrade.sandbox.process import WorkerProcess
from deepgrade.staff.batch import run_batch, write_grades
from tests.helpers import (
    ATTACKS,
    FAST,
    LAB2_SOLUTION,
    LAB2_STUB,
    ROOT,
    SETTINGS,
    STRICT_STEP,
    Fill,
    assert_no_leftovers,
    patched,
    place,
)

pytestmark = [pytest.mark.lab2]

LAB2 = ROOT / "autograder" / "lab2_activations"
HEAVISIDE = "lab2.heaviside"
# The inputs of Lab 2's hidden heaviside checks (hidden.toml), as the attacks print them.
HIDDEN_INPUTS = (
    "[0.0, -0.0, 1.0, -1.0, 10000.0]",
    "[-1.0, 0.0, 2.0, -3.0]",
    "LEAK_0_0_10_m10_100000",
    "LEAK_0_0_0_10_m10_0_20_m30",
)
# Not hidden_inputs_in_shape: a failed check's message states the shape the code returned
# (docs/security.md, "Trust boundary: classes", says what is not defended).
LEAKS = (
    "hidden_inputs_raised",
    "hidden_inputs_printed",
    "hidden_inputs_in_exception_type",
    "hidden_inputs_exit_code",
)


# -- checks come from the course ------------------------------------------------------------------
@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lab 2's public checks exported as a student release, with a hostile references.py."""
    folder = tmp_path_factory.mktemp("release")
    lab = folder / "autograder" / LAB2.name
    export_public_checks(LAB2, lab)
    (lab / REFERENCES_FILE).write_text("import os\nos._exit(3)\n", encoding="utf-8")
    (lab / "hidden.toml").write_text("this is not even TOML", encoding="utf-8")
    return folder


def _lab_of(path: Path) -> LabSpec:
    """The lab that grading the file at ``path`` finds."""
    return validate_request(None, submission=path, settings=FAST).load_lab()


def test_a_release_next_to_a_submission_is_data_only(release: Path) -> None:
    """Its recordings are used; its references.py and hidden.toml are never read."""
    shutil.copy(LAB2_STUB, release / "lab2_activations.py")
    lab = _lab_of(release / "lab2_activations.py")
    assert lab.release and lab.folder == release / "autograder" / LAB2.name
    assert not lab.has_hidden
    # Its judges (Lab 2 has none) would come from the course's own references.
    assert lab.references_file == LAB2 / REFERENCES_FILE
    with pytest.raises(SpecError, match="may only name torch"):
        resolve_reference(None, lab, "os.system")
    assert resolve_reference(None, lab, "torch.sigmoid") is not None


def test_a_configured_folder_of_checks_ignores_what_lies_next_to_the_submission(
    release: Path,
) -> None:
    shutil.copy(LAB2_STUB, release / "lab2_activations.py")
    submission = load_submission(release / "lab2_activations.py")
    configured = FAST.model_copy(update={"autograder_dir": ROOT / "autograder"})
    lab = validate_request(None, submission=submission, settings=configured).load_lab()
    assert not lab.release and lab.folder == LAB2 and lab.has_hidden


def test_a_file_inside_the_course_checkout_is_graded_by_the_courses_own_lab() -> None:
    """The course's folder above a file in its checkout is the course's, hidden checks and all,
    not a release."""
    lab = _lab_of(LAB2_STUB)
    assert lab.folder == LAB2 and lab.has_hidden and not lab.release


def test_a_release_whose_checks_differ_from_the_courses_is_ignored(
    release: Path, tmp_path: Path
) -> None:
    forged = tmp_path / "autograder" / LAB2.name
    shutil.copytree(release / "autograder" / LAB2.name, forged)
    text = (forged / "lab.toml").read_text(encoding="utf-8")
    (forged / "lab.toml").write_text(text.replace("points = 1.0", "points = 9.0"), "utf-8")
    shutil.copy(LAB2_STUB, tmp_path / "lab2_activations.py")
    lab = _lab_of(tmp_path / "lab2_activations.py")
    assert lab.folder == LAB2 and not lab.release


@pytest.fixture(scope="module")
def lab1_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lab 1's public checks (they have judges) exported as a student release."""
    folder = tmp_path_factory.mktemp("lab1_release") / "autograder"
    export_public_checks(ROOT / "autograder" / "lab1_linear", folder / "lab1_linear")
    return folder


def _lab1_without_the_course(release: Path) -> LabSpec:
    """Lab 1 as a student's machine finds it: its release, and no course installed."""
    return spec.find_lab("lab1", course=[], releases=[release])


def test_a_releases_judges_run_in_a_worker_where_the_course_is_not_installed(
    lab1_release: Path, tmp_path: Path
) -> None:
    lab = _lab1_without_the_course(lab1_release)
    assert lab.release and lab.references() is None
    path = tmp_path / "lab1_linear.py"
    shutil.copy(ROOT / "solutions" / "lab1_linear" / "lab1_linear.py", path)
    result = grade_cells(load_submission(path), lab, ["lab1.mse", "lab1.mse_grad"], "cpu", FAST)
    assert [(e.status, e.score) for e in result.exercises] == [
        (Status.PASSED, e.max_score) for e in result.exercises
    ]


def test_a_hostile_judge_of_a_release_runs_in_a_worker(lab1_release: Path, tmp_path: Path) -> None:
    """Its code never runs in the grader: a judge that exits only ends its own worker."""
    hostile = tmp_path / "autograder"
    shutil.copytree(lab1_release, hostile)
    judges = hostile / "lab1_linear" / REFERENCES_FILE
    judges.write_text(
        "import os\n\ndef mse_value(result, args, kwargs, expected):\n    os._exit(3)\n",
        encoding="utf-8",
    )
    path = tmp_path / "lab1_linear.py"
    shutil.copy(ROOT / "solutions" / "lab1_linear" / "lab1_linear.py", path)
    lab = _lab1_without_the_course(hostile)
    result = grade_cells(load_submission(path), lab, ["lab1.mse"], "cpu", FAST)
    (exercise,) = result.exercises
    assert exercise.status is Status.GRADER_ERROR, exercise.message
    assert "the judge mse_value failed" in exercise.message


def test_batch_uses_the_courses_checks_even_from_inside_a_student_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Students who ship autograder/ folders (in theirs, and above it) get the course's checks,
    and the Python there never runs, wherever the batch is started from."""
    submissions = tmp_path / "class"
    fill = Fill()
    for name in ("own_checks", "own_checks_parent", "own_release"):
        place(ATTACKS[name], submissions / name, fill)
    honest = submissions / "honest" / "lab2_activations.py"
    honest.parent.mkdir(parents=True)
    shutil.copy(LAB2_SOLUTION, honest)
    monkeypatch.chdir(submissions / "own_checks")
    result = run_batch(
        submissions,
        lab="lab2",
        out=tmp_path / "out",
        jobs=2,
        device="cpu",
        exercises=[HEAVISIDE],
        settings=SETTINGS.model_copy(update={"allow_limits_only": True}),
    )
    records = {r.student: r for r in result.records}
    assert records["honest"].score == 1.0
    for name in ("own_checks", "own_checks_parent", "own_release"):
        record = records[name]
        assert record.result is not None, record.error
        ATTACKS[name].check(record.result)
    assert not (ROOT / "ATTACK_own_checks_ran").exists()


# -- hidden checks stay hidden --------------------------------------------------------------------
def _hidden_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "EXERCISE_TIMEOUT": "3",
        "CELL_TIMEOUT": "10",
        "INCLUDE_HIDDEN": "1",
    }.items():
        monkeypatch.setenv(f"DEEPGRADE_{key}", value)


def _no_hidden_input(text: str) -> None:
    for secret in HIDDEN_INPUTS:
        assert secret not in text, secret


@pytest.mark.slow
@pytest.mark.parametrize("name", [*LEAKS, "hidden_inputs_relayed"])
def test_a_submission_cannot_show_a_hidden_input_in_grade_check(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attack = ATTACKS[name]
    path = place(attack, tmp_path / name, Fill())
    _hidden_env(monkeypatch)
    args = ["check", str(path), "--lab", "lab2", "--device", "cpu", "--verbose"]
    for exercise_id in attack.exercises:
        args += ["--exercise", exercise_id]
    shown = CliRunner().invoke(main, args)
    as_json = CliRunner().invoke(main, [*args, "--json"])
    document = json.loads(as_json.stdout)
    assert {e["id"]: e["score"] for e in document["exercises"]} == attack.scores
    for text in (shown.output, as_json.output):
        assert "hidden" in text
        _no_hidden_input(text)


@pytest.mark.slow
def test_a_submission_cannot_show_a_hidden_input_on_its_feedback_page(tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    fill = Fill()
    for name in LEAKS:
        place(ATTACKS[name], submissions / name, fill)
    out = tmp_path / "out"
    settings = SETTINGS.model_copy(update={"include_hidden": True})
    run_batch(
        submissions,
        lab="lab2",
        out=out,
        jobs=2,
        device="cpu",
        exercises=[HEAVISIDE],
        settings=settings,
    )
    for name in LEAKS:
        page = (out / "feedback" / f"{name}.html").read_text(encoding="utf-8")
        _no_hidden_input(page)
        record = json.loads((out / "results" / f"{name}.json").read_text(encoding="utf-8"))
        _no_hidden_input(json.dumps(record))


# -- grading a class ------------------------------------------------------------------------------
def test_batch_refuses_limits_only_isolation_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "class" / "alice").mkdir(parents=True)
    shutil.copy(LAB2_SOLUTION, tmp_path / "class" / "alice" / "lab2_activations.py")
    refused = FAST.model_copy(update={"isolation": "limits", "allow_limits_only": False})
    with pytest.raises(UsageError, match="read, signal or overwrite another student's work"):
        run_batch(tmp_path / "class", lab="lab2", out=tmp_path / "out", settings=refused)
    assert not (tmp_path / "out").exists()
    args = ["batch", str(tmp_path / "class"), "--lab", "lab2", "--out", str(tmp_path / "out")]
    env = {"DEEPGRADE_ISOLATION": "limits"}
    done = CliRunner().invoke(main, [*args, "--device", "cpu", "--exercise", HEAVISIDE], env=env)
    assert done.exit_code == 2 and "--allow-limits-only" in done.output
    allowed = [*args, "--device", "cpu", "--exercise", HEAVISIDE, "--allow-limits-only"]
    done = CliRunner().invoke(main, [*allowed, "--jobs", "1"], env=env)
    assert done.exit_code == 0, done.output
    assert "isolation: limits-only" in done.output
    assert [r.score for r in read_records(tmp_path / "out")] == [1.0]


@pytest.mark.slow
def test_a_cpu_hog_slows_its_classmates_but_never_makes_them_time_out(tmp_path: Path) -> None:
    """Exercise limits are charged for a worker's own CPU time: the honest students, graded
    beside a submission whose spinners compete for every core, keep the grades they get alone,
    under a limit that the wall-clock time of their checks would pass under contention."""
    # 0.3 s of CPU is plenty for heaviside's checks, not 0.3 s of a core shared with a hog
    # (wall_clock_factor 1, the wall-clock limit of old, times them out); the generous
    # wall-clock backstop keeps a busy test machine from cutting them short.
    tight = SETTINGS.model_copy(
        update={"exercise_timeout": 0.3, "wall_clock_factor": 30.0, "allow_limits_only": True}
    )
    submissions = tmp_path / "class"
    honest = {
        "honest_solution": LAB2_SOLUTION.read_text(encoding="utf-8"),
        "honest_bug": patched(LAB2_SOLUTION.read_text(encoding="utf-8"), STRICT_STEP),
    }
    alone = {}
    for student, source in honest.items():
        path = submissions / student / "lab2_activations.py"
        path.parent.mkdir(parents=True)
        path.write_text(source, encoding="utf-8")
        alone[student] = grade_submission(
            path, lab="lab2", exercises=[HEAVISIDE], device="cpu", settings=tight
        )
    fill = Fill()
    place(ATTACKS["cpu_hog"], submissions / "cpu_hog", fill)
    result = run_batch(
        submissions,
        lab="lab2",
        out=tmp_path / "out",
        jobs=3,
        device="cpu",
        exercises=[HEAVISIDE],
        settings=tight,
    )
    records = {r.student: r for r in result.records}
    for student, expected in alone.items():
        got = records[student].result
        assert got is not None, records[student].error
        assert [e.model_dump() for e in got.exercises] == [
            e.model_dump() for e in expected.exercises
        ]
    hog = records["cpu_hog"].result
    assert hog is not None
    assert [(e.status, e.score) for e in hog.exercises] == [(Status.TIMEOUT, 0.0)]
    assert_no_leftovers(fill.marker)


@pytest.mark.skipif(os.geteuid() != 0, reason="only a grader running as root changes user")
def test_workers_of_a_root_grader_without_bubblewrap_run_as_a_user_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Here the Python installation may sit in root's home, which that user could not read:
    # this worker only runs what its template imported.
    monkeypatch.setattr(preload, "unreadable_python_folders", list)
    # A template of its own (another preload list), which no other test takes.
    settings = FAST.model_copy(
        update={"isolation": "limits", "preload": ("torch", "numpy", "sympy", "json")}
    )
    (tmp_path / "private").write_text("root's", encoding="utf-8")
    probe = f"""
import json, os
def attempt(action):
    try:
        action()
    except OSError as exc:
        return type(exc).__name__
    return "allowed"
def write_home():
    with open(os.path.join(os.environ["HOME"], "mine"), "w") as stream:
        stream.write("x")
found = {{
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()],
    "signal_grader": attempt(lambda: os.kill({os.getpid()}, 0)),
    "read_private": attempt(lambda: open({str(tmp_path / "private")!r}).read()),
    "write_home": attempt(write_home),
}}
print(json.dumps(found))
"""
    worker = WorkerProcess(settings, "cpu", "__main__")
    worker.start()
    try:
        reply, _ = worker.request({"op": "exec", "source": probe, "filename": "<t>"}, [], 10.0)
    finally:
        worker.close()
    assert reply["ok"], reply
    found = json.loads(reply["output"].strip().splitlines()[-1])
    uid = found["ids"][0]
    assert uid >= 2_000_000_000 and found["ids"] == [uid, uid, uid, []]
    assert found["signal_grader"] == "PermissionError"
    assert found["read_private"] == "PermissionError"
    assert found["write_home"] == "allowed"


# -- CSV cells ------------------------------------------------------------------------------------
FORMULAS = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","y")']


@pytest.mark.parametrize("cell", FORMULAS)
def test_a_cell_that_starts_like_a_formula_is_quoted(cell: str) -> None:
    (row,) = csv.reader(io.StringIO(csv_text([[cell, "plain"]]), newline=""))
    assert row == ["'" + cell, "plain"]


def test_numbers_stay_numbers() -> None:
    (row,) = csv.reader(io.StringIO(csv_text([["-1.5", "2", "1e-3", "-", "nan", "+.5"]])))
    assert row == ["-1.5", "2", "1e-3", "'-", "nan", "+.5"]


@pytest.mark.parametrize("cell", ["-Infinity", "-inf", "+nan", "-1_0", "-1e", "-1.5 "])
def test_what_python_reads_as_a_number_but_a_spreadsheet_does_not_is_quoted(cell: str) -> None:
    (row,) = csv.reader(io.StringIO(csv_text([[cell]])))
    assert row == ["'" + cell]


def test_grades_csv_quotes_student_ids_and_teams(tmp_path: Path) -> None:
    lab = load_lab(LAB2)
    exercise = ExerciseResult(id=HEAVISIDE, status=Status.PASSED, score=1.0, max_score=1.0)
    record = SubmissionRecord(
        student="=cmd|' /C calc'!A0",
        lab="lab2",
        source="x",
        content_hash="h",
        checks_version="v",
        status=RecordStatus.GRADED,
        result=LabResult(lab="lab2", exercises=[exercise]),
        max_score=1.0,
    )
    path = tmp_path / "grades.csv"
    write_grades(path, lab, [record], team_of=lambda _: "@team")
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[1] == ["'=cmd|' /C calc'!A0", "'@team", "1", "1", "1", "graded"]
