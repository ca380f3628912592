"""grade batch --executor dask: a small class graded on a Dask cluster, as the local pool does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.model.records import RecordStatus, SubmissionRecord, checks_version, read_records
from deepgrade.model.results import IsolationLevel
from deepgrade.model.spec import LabSpec, load_lab
from deepgrade.staff import executors
from deepgrade.staff.batch import run_batch
from deepgrade.staff.executors import DaskCluster, GradingConfig, GradingTask
from deepgrade.staff.submissions import find_submissions
from tests.helpers import FAST, NOTEBOOK, ONLY, ROOT
from tests.helpers import make_class as batch_class

pytest.importorskip("distributed")
pytestmark = pytest.mark.lab2

LAB2 = ROOT / "autograder" / "lab2_activations"


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A one-thread cluster inside this process: it starts in a blink and needs no port."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def make_class(root: Path) -> Path:
    """The batch tests' class without the stub: alice, carol (a zip with a bug) and dan."""
    return batch_class(root, stub=False)


def comparable(record: SubmissionRecord) -> dict[str, object]:
    """A record without what differs from one run to the next: how long it took."""
    data = record.model_dump(mode="json", exclude={"duration_s"})
    for exercise in (data["result"] or {}).get("exercises", []):
        exercise.pop("duration_s", None)
    return data


def batch_args(submissions: Path, out: Path, *extra: str) -> list[str]:
    return [
        "batch", str(submissions), "--lab", "lab2", "--out", str(out),
        "--device", "cpu", "--exercise", ONLY[0], *extra,
    ]  # fmt: skip


# Four real gradings (two per executor): about 15 s of CPU time.
def test_dask_grades_a_class_as_the_local_pool_does_and_resumes(
    tmp_path: Path, scheduler: str
) -> None:
    submissions = make_class(tmp_path / "class")
    local, remote = tmp_path / "local", tmp_path / "dask"
    run_batch(submissions, lab="lab2", out=local, jobs=1, device="cpu", exercises=ONLY)
    dask = ["--executor", "dask", "--scheduler", scheduler]
    run = CliRunner().invoke(main, batch_args(submissions, remote, *dask))
    assert run.exit_code == 0, run.output
    assert "2 graded, 0 up to date, 1 failed; mean score 1.50 / 2" in run.output
    assert (remote / "grades.csv").read_text() == (local / "grades.csv").read_text()
    records = read_records(remote)
    # The same records, down to the error that names the student's file where the batch found it.
    assert [comparable(r) for r in records] == [comparable(r) for r in read_records(local)]
    assert [r.status for r in records] == [
        RecordStatus.GRADED, RecordStatus.GRADED, RecordStatus.SUBMISSION_ERROR
    ]  # fmt: skip
    assert str(submissions / "dan" / NOTEBOOK) in records[2].error
    assert sorted(p.name for p in (remote / "feedback").iterdir()) == [
        "alice.html", "carol.html", "dan.html"
    ]  # fmt: skip
    written = {p.name: p.stat().st_mtime_ns for p in (remote / "results").iterdir()}

    again = CliRunner().invoke(main, batch_args(submissions, remote, *dask))
    assert again.exit_code == 0, again.output
    assert "0 graded, 3 up to date, 0 failed" in again.output
    assert {p.name: p.stat().st_mtime_ns for p in (remote / "results").iterdir()} == written


def test_a_scheduler_that_cannot_be_reached_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submissions, out = make_class(tmp_path / "class"), tmp_path / "out"
    monkeypatch.setenv("DEEPGRADE_SCHEDULER_TIMEOUT", "1")
    address = "tcp://127.0.0.1:9"  # the discard port: nothing listens there
    started = time.monotonic()
    run = CliRunner().invoke(
        main, batch_args(submissions, out, "--executor", "dask", "--scheduler", address)
    )
    assert run.exit_code == 2, run.output
    assert f"Error: cannot connect to the Dask scheduler at {address} within 1 s" in run.output
    assert "Traceback" not in run.output
    assert time.monotonic() - started < 30
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--executor", "dask"], "Error: --executor dask needs --scheduler ADDRESS"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "Error: --scheduler is only for --executor dask"),
    ],
)
def test_the_scheduler_goes_with_the_dask_executor_only(
    tmp_path: Path, options: list[str], message: str
) -> None:
    submissions = make_class(tmp_path / "class")
    run = CliRunner().invoke(main, batch_args(submissions, tmp_path / "out", *options))
    assert run.exit_code == 2, run.output
    assert message in run.output


def config_for(lab: LabSpec, folder: Path | None = None, limit: float = 0.0) -> GradingConfig:
    """The batch's configuration; ``limit`` makes the time limit of each task that short."""
    timeouts = {"worker_start_timeout": limit / 2, "submission_timeout": limit / 2}
    return GradingConfig(
        lab_id=lab.id,
        lab_folder=folder or lab.folder,
        version=checks_version(lab),
        max_score=lab.max_score,
        exercises=(),
        device="cpu",
        settings=FAST.model_copy(update=timeouts if limit else {}),
        isolation=IsolationLevel.LIMITS,
    )


def test_a_failing_task_costs_its_submission_only(
    tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task that raises, one past its time limit, and a worker without the lab's checks."""
    lab = load_lab(LAB2)
    alice, carol, dan = (
        GradingTask(found, found.content_hash())
        for found in find_submissions(make_class(tmp_path / "class"), lab)
    )
    real = executors.grade_found

    def flaky(task: GradingTask, lab: LabSpec, config: GradingConfig) -> SubmissionRecord:
        if task.found.student == "alice":
            raise RuntimeError("a bug of the grader")
        if task.found.student == "carol":
            time.sleep(1.5)  # past its 0.4 s; the cluster's thread then ends it all the same
            raise RuntimeError("too late")
        return real(task, lab, config)

    # The cluster's worker is a thread of this process, so the patch reaches its tasks.
    monkeypatch.setattr(executors, "grade_found", flaky)
    monkeypatch.setattr(executors, "_GRACE_S", 0.0)
    records: list[SubmissionRecord] = []
    with DaskCluster.connect(scheduler, 5.0) as cluster:
        cluster.grade([alice, dan], config_for(lab), records.append)
        cluster.grade([carol], config_for(lab, limit=0.4), records.append)
        elsewhere = tmp_path / "no_autograder" / lab.folder.name
        cluster.grade([dan], config_for(lab, folder=elsewhere), records.append)
    by_student = {(r.student, r.status.value): r.error for r in records}
    assert by_student.pop(("alice", "grader_error")) == (
        "the Dask task failed (error): RuntimeError: a bug of the grader"
    )
    assert "is not a valid notebook" in by_student.pop(("dan", "submission_error"))
    assert by_student.pop(("carol", "grader_error")).startswith(
        "the grader took more than 0.4 s on the Dask cluster at "
    )
    missing = by_student.pop(("dan", "grader_error"))
    assert f"cannot load the lab from {elsewhere}" in missing
    assert "install the course's autograder folder there" in missing
    assert not by_student
