"""Gradient checks fetch the calls ``gradcheck`` will make in one worker request: a check costs
three round trips, and grades exactly as when each of those calls was its own request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deepgrade.engine.checks import gradcheck
from deepgrade.engine.checks.base import CheckOutcome
from deepgrade.engine.checks.context import CheckContext
from deepgrade.engine.grading import grade_submission
from deepgrade.sandbox.process import WorkerProcess
from tests.helpers import FAST, LAB2_SOLUTION, patched

pytestmark = pytest.mark.lab2

# True only for the unit grad_output of element 5: gradcheck's sixth backward, in the middle
# of the request that fetches the backwards.
SIXTH = "float(grad_output.abs().sum()) == 1.0 and float(grad_output.flatten()[5]) == 1.0"

# One planted behaviour per exercise, each probing what fetching ahead must not change.
PLANTED = [
    # A backward that does not match finite differences.
    (
        "        return grad_output * y * (1 - y)\n",
        "        return grad_output * y * (1 - y) * 1.01\n",
    ),
    # A backward that raises on one call in the middle of a fetch.
    (
        "        return grad_output * (1 - y * y)\n",
        f"        if {SIXTH}:\n"
        '            raise ValueError("not this one")\n'
        "        return grad_output * (1 - y * y)\n",
    ),
    # A forward that raises on one perturbed input only (element 5 nudged up).
    (
        "def relu(x: torch.Tensor) -> torch.Tensor:\n",
        "_FIRST = {}\n\n\n"
        "def relu(x: torch.Tensor) -> torch.Tensor:\n"
        "    first = _FIRST.setdefault((x.shape, x.dtype), x.detach().clone())\n"
        "    if int((x != first).sum()) == 1 and float((x - first).flatten()[5]) > 0:\n"
        '        raise ValueError("x[5] went up")\n',
    ),
    # A backward that counts its calls, so gradcheck's two passes differ.
    (
        "def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:\n",
        "_CALLS = [0]\n\n\n"
        "def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:\n"
        "    _CALLS[0] += 1\n"
        "    return LeakyReLU.apply(x, negative_slope) + (x - x.detach()) * _CALLS[0] * 1e-9\n",
    ),
    # A forbidden function, by a name the source scan cannot see, on one call of a fetch.
    (
        "        return torch.where(x > 0, grad_output, slope * grad_output), None\n",
        f"        if {SIXTH}:\n"
        '            getattr(torch.nn.functional, "el" + "u")(grad_output)\n'
        "        return torch.where(x > 0, grad_output, slope * grad_output), None\n",
    ),
    # A backward that hangs (asleep, sparing the CPU) on one call of a fetch.
    ("import torch\n", "import time\n\nimport torch\n"),
    (
        "        return grad_output * -torch.expm1(-y)\n",
        f"        while {SIXTH}:\n"
        "            time.sleep(1)\n"
        "        return grad_output * -torch.expm1(-y)\n",
    ),
    # A backward that raises on gradcheck's last call, made on its own (a zero grad_output).
    (
        "        return grad_x, grad_a.reshape(a.shape)\n",
        "        if not grad_output.any():\n"
        '            raise ValueError("nothing to pass back")\n'
        "        return grad_x, grad_a.reshape(a.shape)\n",
    ),
]
EXERCISES = [
    "lab2.sigmoid",
    "lab2.tanh",
    "lab2.relu",
    "lab2.leaky_relu",
    "lab2.elu",
    "lab2.softplus",
    "lab2.prelu",
]
# Short enough for the hanging backward, long enough for the other exercises on a busy machine.
SETTINGS = FAST.model_copy(update={"exercise_timeout": 4.0})


def _grade(path: Path) -> list[dict[str, Any]]:
    result = grade_submission(path, exercises=EXERCISES, settings=SETTINGS, device="cpu")
    return [exercise.model_dump() for exercise in result.exercises]


def test_fetching_ahead_grades_exactly_as_one_request_per_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / LAB2_SOLUTION.name
    path.write_text(patched(LAB2_SOLUTION.read_text(encoding="utf-8"), PLANTED), encoding="utf-8")
    ahead = _grade(path)
    with monkeypatch.context() as patch:
        patch.setattr(gradcheck._Remote, "_fetch_next", lambda self: None)
        one_by_one = _grade(path)
    assert ahead == one_by_one
    statuses = {e["id"]: e["status"] for e in ahead}
    assert statuses == {
        "lab2.sigmoid": "failed",
        "lab2.tanh": "error",
        "lab2.relu": "error",
        "lab2.leaky_relu": "failed",
        "lab2.elu": "forbidden",
        "lab2.softplus": "timeout",
        "lab2.prelu": "error",
    }
    messages = {e["id"]: e["message"] for e in ahead}
    assert "gradcheck in float64 of sigmoid" in messages["lab2.sigmoid"]
    assert "gradcheck in float64: ValueError: not this one" in messages["lab2.tanh"]
    assert "ValueError: x[5] went up" in messages["lab2.relu"]
    assert "not reentrant" in messages["lab2.leaky_relu"]
    assert "elu called elu" in messages["lab2.elu"]
    assert "gradcheck in float64: softplus did not finish" in messages["lab2.softplus"]
    assert "ValueError: nothing to pass back" in messages["lab2.prelu"]


@pytest.mark.parametrize(
    ("request_bytes", "round_trips"),
    [(gradcheck._REQUEST_BYTES, [3, 3]), (1000, [24, 14])],
    ids=["one request per phase", "large inputs in several requests"],
)
def test_a_gradcheck_check_costs_three_round_trips(
    monkeypatch: pytest.MonkeyPatch, request_bytes: int, round_trips: list[int]
) -> None:
    requests = [0]
    per_check: list[int] = []
    request, run = WorkerProcess.request, gradcheck.GradcheckCheck.run

    def counted_request(self: WorkerProcess, *args: Any, **kwargs: Any) -> Any:
        requests[0] += 1
        return request(self, *args, **kwargs)

    def counted_run(self: gradcheck.GradcheckCheck, ctx: CheckContext) -> CheckOutcome:
        before = requests[0]
        outcome = run(self, ctx)
        per_check.append(requests[0] - before)
        return outcome

    monkeypatch.setattr(WorkerProcess, "request", counted_request)
    monkeypatch.setattr(gradcheck.GradcheckCheck, "run", counted_run)
    monkeypatch.setattr(gradcheck, "_REQUEST_BYTES", request_bytes)
    # PReLU: two inputs (x and its slopes), 51 calls one by one; sigmoid: one input, 49.
    result = grade_submission(
        LAB2_SOLUTION, exercises=["lab2.prelu", "lab2.sigmoid"], settings=FAST, device="cpu"
    )
    assert result.all_passed
    assert per_check == round_trips
