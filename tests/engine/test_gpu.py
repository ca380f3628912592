"""``--device cuda|auto``: resolving the device, results checked for it, tolerances per device,
TF32 off, one submission at a time per GPU, and the Lab 2 and Lab 3 grades on each device.

Everything that can be shown on the CPU is: the tests marked ``gpu`` need a CUDA device and are
skipped without one; the device-parametrised grading tests run on the CPU everywhere.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.engine import devices
from deepgrade.engine.checks import check_kinds
from deepgrade.engine.comparison import Tolerance, compare, default_tolerance
from deepgrade.engine.grading import grade_submission
from deepgrade.errors import UsageError
from deepgrade.sandbox import wire
from deepgrade.sandbox.worker import main as _worker
from tests.helpers import FAST, Bug, check_bug, exercise, scores, statuses
from tests.labs import lab2, lab3

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, needs_cuda])]


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def tf32_flags() -> Iterator[None]:
    """Give the TF32 flags back as they were (they are properties monkeypatch cannot undo)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch, tf32_flags: None) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


# -- resolving --device -----------------------------------------------------------------------
@pytest.mark.usefixtures("no_cuda")
def test_auto_is_the_cpu_without_cuda() -> None:
    assert devices.resolve_device("auto") == torch.device("cpu")
    assert devices.resolve_device("cpu") == torch.device("cpu")


@pytest.mark.usefixtures("two_gpus")
def test_auto_and_cuda_are_the_first_gpu_with_an_index() -> None:
    assert devices.resolve_device("auto") == torch.device("cuda", 0)
    assert devices.resolve_device("cuda") == torch.device("cuda", 0)
    assert devices.resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.usefixtures("two_gpus")
def test_a_gpu_that_is_not_there_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"--device cuda:2: there is no such GPU \(PyTorch sees 2"):
        devices.resolve_device("cuda:2")


@pytest.mark.usefixtures("no_cuda")
@pytest.mark.parametrize(
    ("asked", "words"),
    [
        ("cuda", "--device cuda was asked for, but PyTorch sees no CUDA device"),
        ("cuda:1", "--device cuda:1 was asked for"),
        ("mps", "unsupported device 'mps'"),
        ("gpu0", "unknown device 'gpu0'"),
    ],
)
def test_devices_that_cannot_be_used_are_usage_errors(asked: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        devices.resolve_device(asked)


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here")
def test_grade_check_on_cuda_without_cuda_is_a_clean_error() -> None:
    run = CliRunner().invoke(main, ["check", str(lab2.LAB.solution), "--device", "cuda"])
    assert run.exit_code == 2
    assert "Error: --device cuda was asked for, but PyTorch sees no CUDA device" in run.output
    assert "Traceback" not in run.output


# -- the device of results --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reported", "expected", "same"),
    [
        ("cuda:0", torch.device("cuda", 0), True),
        ("cuda", torch.device("cuda", 0), True),
        ("cuda:0", torch.device("cuda"), True),
        ("cuda:1", torch.device("cuda", 0), False),
        ("cpu", torch.device("cuda", 0), False),
        ("cuda:0", torch.device("cpu"), False),
        ("cpu", torch.device("cpu"), True),
        ("not a device", torch.device("cpu"), False),  # the worker's report is not trusted
        ("", torch.device("cpu"), False),
    ],
)
def test_same_device(reported: str, expected: torch.device, same: bool) -> None:
    assert devices.same_device(reported, expected) is same


def test_a_result_on_the_cpu_when_cuda_was_asked_for_fails_first_and_says_so() -> None:
    expected = torch.zeros(3)
    wrong_shape = torch.zeros(4)  # the device is what to fix first, not the shape
    tolerance = default_tolerance(torch.float32)
    verdict = compare(
        expected, wrong_shape, tolerance, got_device="cpu", expected_device=torch.device("cuda", 0)
    )
    assert not verdict.ok
    assert verdict.message.startswith("the output is on cpu, but cuda:0 was expected")
    assert "device=x.device" in verdict.message
    on_gpu = compare(
        expected, expected, tolerance, got_device="cuda:0", expected_device=torch.device("cuda")
    )
    assert on_gpu.ok


def test_results_reported_on_another_device_fail_the_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole path on the CPU: the worker's report of its result's device reaches the
    reference, gradient and property checks through the session, as a CPU result would on
    CUDA. (gradcheck moves what it gets to the device and checks the numbers only.)"""
    monkeypatch.setattr(wire, "device_of", lambda data: "cuda:0")
    result = grade_submission(
        lab2.LAB.solution, settings=FAST, device="cpu", exercises=["lab2.relu", "lab2.softmax"]
    )
    checks = [c for e in result.exercises for c in e.checks if "gradcheck" not in c.name]
    assert len(checks) == 15
    for check in checks:
        assert check.status.value == "failed", check
        assert "is on cuda:0, but cpu was expected" in check.message, check.message


# -- tolerances ---------------------------------------------------------------------------------
def test_float32_on_cuda_is_compared_more_loosely_than_on_the_cpu() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    loose, tight = default_tolerance(torch.float32, cuda), default_tolerance(torch.float32, cpu)
    assert loose.rtol > tight.rtol
    assert loose.atol >= tight.atol
    assert default_tolerance(torch.float64, cuda) == default_tolerance(torch.float64, cpu)
    assert default_tolerance(torch.int64, cuda) == Tolerance(rtol=0.0, atol=0.0)
    # Off by 5e-6 relative: wrong on the CPU, rounding on a GPU.
    expected = torch.tensor([1.0, 2.0, 3.0])
    got = expected * (1 + 5e-6)
    assert not compare(expected, got, tight).ok
    assert compare(expected, got, loose).ok


def test_a_checks_own_tolerance_holds_on_every_device() -> None:
    check = check_kinds()["reference"].model_validate(
        {
            "kind": "reference",
            "name": "exact",
            "call": "f",
            "reference": "torch.relu",
            "tolerances": {"float32": {"rtol": 0.0, "atol": 0.0}},
        }
    )
    for device in (torch.device("cpu"), torch.device("cuda", 0)):
        assert check.tolerance(torch.float32, device) == Tolerance(rtol=0.0, atol=0.0)
        assert check.tolerance(torch.float64, device) == default_tolerance(torch.float64, device)


# -- TF32, and CUDA left alone before a fork ----------------------------------------------------
@pytest.mark.usefixtures("tf32_flags")
def test_the_worker_switches_tf32_off_for_cuda_calls() -> None:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    assert _worker._device({"device": "cpu"}) == torch.device("cpu")
    assert torch.backends.cuda.matmul.allow_tf32  # the CPU has no TF32 to switch off
    assert _worker._device({"device": "cuda:0"}) == torch.device("cuda", 0)
    assert not torch.backends.cuda.matmul.allow_tf32
    assert not torch.backends.cudnn.allow_tf32
    assert not torch.cuda.is_initialized()


def test_importing_the_worker_and_switching_tf32_off_leave_cuda_uninitialised() -> None:
    """What the worker template does before it forks must not start CUDA, nor what the fork
    server of a batch's graders imports: a child forked from a process with CUDA initialised
    cannot use CUDA."""
    code = (
        "import importlib, torch, deepgrade.sandbox.worker.main, deepgrade.engine.devices;"
        "import deepgrade.staff.executors;"
        "from deepgrade.sandbox.templates import template_modules;"
        "from deepgrade.settings import GraderSettings;"
        "[importlib.import_module(m) for m in template_modules(GraderSettings())];"
        "deepgrade.sandbox.precision.exact_float32();"
        "print(torch.cuda.is_initialized())"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "False"


# -- one submission at a time per GPU -----------------------------------------------------------
@pytest.fixture
def lock_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return tmp_path


def _taken(path: Path) -> bool:
    """Whether another holder has ``path`` locked (a new open file is a new flock owner)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_the_gpu_lock_is_held_while_a_submission_runs(lock_folder: Path) -> None:
    gpu = torch.device("cuda", 1)
    path = devices.lock_path(gpu)
    assert path == lock_folder / "deepgrade-gpu-1.lock"
    with devices.gpu_lock(gpu):
        assert _taken(path)
        with devices.gpu_lock(torch.device("cuda", 0)):  # another GPU's lock is free
            assert _taken(path)
    assert not _taken(path)


def test_the_cpu_takes_no_lock(lock_folder: Path) -> None:
    with devices.gpu_lock(torch.device("cpu")):
        assert list(lock_folder.iterdir()) == []


def test_locks_are_named_after_the_physical_gpu(
    lock_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, GPU-5e1f/x")
    assert devices.lock_path(torch.device("cuda", 0)).name == "deepgrade-gpu-3.lock"
    assert devices.lock_path(torch.device("cuda", 1)).name == "deepgrade-gpu-GPU-5e1f_x.lock"


def test_a_second_grader_waits_for_the_gpu(lock_folder: Path) -> None:
    """Another process's grading blocks on the lock until the holder lets go."""
    gpu = torch.device("cuda", 0)
    code = (
        "import sys, tempfile, torch; tempfile.tempdir = sys.argv[1];"
        "from deepgrade.engine.devices import gpu_lock;"
        "ctx = gpu_lock(torch.device('cuda', 0)); ctx.__enter__(); print('got it', flush=True)"
    )
    with devices.gpu_lock(gpu):
        waiting = subprocess.Popen(
            [sys.executable, "-c", code, str(lock_folder)], stdout=subprocess.PIPE, text=True
        )
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=3)
    out, _ = waiting.communicate(timeout=30)
    assert out.strip() == "got it"


# -- Lab 2 and Lab 3 on every device --------------------------------------------------------------
LABS = {
    "lab2": (lab2.LAB, lab2.BUGS["ReLU'(0) = 1"]),
    "lab3": (lab3.LAB, lab3.BUGS["MSE backward without /N"]),
}


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("lab_name", sorted(LABS))
def test_the_solution_scores_full_marks_on_cuda(lab_name: str) -> None:
    lab, _ = LABS[lab_name]
    result = grade_submission(lab.solution, settings=lab.settings, device="cuda")
    assert scores(result) == lab.full, [e.message for e in result.exercises]
    assert set(statuses(result).values()) == {"passed"}


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("lab_name", sorted(LABS))
def test_the_stubs_score_zero_on_cuda(lab_name: str) -> None:
    lab, _ = LABS[lab_name]
    result = grade_submission(lab.stub, settings=lab.settings, device="cuda")
    assert result.score == 0.0
    assert statuses(result) == dict.fromkeys(lab.full, "not_implemented")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("lab_name", sorted(LABS))
def test_a_planted_bug_loses_the_same_points_on_every_device(
    lab_name: str, device: str, tmp_path: Path
) -> None:
    lab, bug = LABS[lab_name]
    path = tmp_path / lab.name
    path.write_text(lab.planted(bug), encoding="utf-8")
    result = grade_submission(path, settings=lab.settings, device=device, exercises=list(bug.score))
    check_bug(result, bug)


# The solution's ReLU with its result sent to the CPU: harmless there, wrong on a GPU.
RELU_TO_CPU = Bug(
    [("    return ReLU.apply(x)\n", "    return ReLU.apply(x).cpu()\n")],
    {"lab2.relu": 2.0},
    {"lab2.relu": "passed"},
)


@pytest.mark.parametrize("device", DEVICES)
def test_a_result_moved_to_the_cpu_fails_on_cuda_only(device: str, tmp_path: Path) -> None:
    path = tmp_path / lab2.LAB.name
    path.write_text(lab2.LAB.planted(RELU_TO_CPU), encoding="utf-8")
    result = grade_submission(path, settings=FAST, device=device, exercises=["lab2.relu"])
    relu = exercise(result, "lab2.relu")
    if device == "cpu":
        check_bug(result, RELU_TO_CPU)
    else:
        assert relu.status.value == "failed"
        assert relu.score < 2.0
        assert "the output is on cpu, but cuda:0 was expected" in relu.message
