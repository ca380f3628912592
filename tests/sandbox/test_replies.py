"""What the grader accepts from a worker (issue 17): the schema of a reply, the confined child
that judges answers, and the grader's own memory under hostile replies."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from deepgrade.engine.grading import grade_submission
from deepgrade.sandbox import wire
from deepgrade.sandbox.confined import Budget, ConfinedError, OverBudget, run_confined
from deepgrade.sandbox.replies import check_driven, check_reply
from deepgrade.sandbox.worker.drivers import (
    Driver,
    evaluate,
    module_probe,
    optimizer_run,
    outcome,
    run_loop,
    value_graph,
)
from tests.helpers import FAST, LAB2_SOLUTION, ROOT

ATTACKS = ROOT / "tests" / "adversarial"

HONEST = [
    {"ok": True, "ready": True},
    {"ok": True},
    {"ok": True, "output": "hello\n"},
    {"ok": False, "error": {"type": "NameError", "message": "x", "traceback": "..."}, "output": ""},
    {"ok": True, "names": {"heaviside": "function", "Heaviside": "class"}},
    {"ok": True, "value": {"__tensor__": 0, "device": "cpu"}, "grads": [], "output": ""},
    {"ok": False, "error": {"type": "ResultTooLarge", "message": "big"}, "output": ""},
    {"ok": True, "value": None, "grads": [None], "forbidden_used": ["relu"], "output": ""},
]


@pytest.mark.parametrize("reply", HONEST)
def test_every_reply_an_honest_worker_sends_fits_the_schema(reply: dict[str, Any]) -> None:
    assert check_reply(reply, output_limit=4000) is reply


@pytest.mark.parametrize(
    ("reply", "where"),
    [
        ({"ok": 1}, "ok"),
        ({"ok": True, "extra": 1}, "extra"),
        ({"ok": False, "error": [1]}, "error"),
        ({"ok": False, "error": {"type": "E" * 300}}, "error.type"),
        ({"ok": False, "error": {"type": "E", "message": "m" * 3000}}, "error.message"),
        ({"ok": True, "grads": 5}, "grads"),
        ({"ok": True, "grads": [None] * 100}, "grads"),
        ({"ok": True, "forbidden_used": "relu"}, "forbidden_used"),
        ({"ok": True, "names": {"f": 1}}, "names.f"),
        ({"ok": True, "output": {"a": 1}}, "output"),
    ],
)
def test_replies_out_of_the_schema_are_refused(reply: dict[str, Any], where: str) -> None:
    with pytest.raises(wire.WireError, match=rf"malformed reply \({re.escape(where)}"):
        check_reply(reply, output_limit=4000)


def test_output_is_bounded_by_the_output_limit() -> None:
    check_reply({"ok": True, "output": "x" * 4100}, output_limit=4000)
    with pytest.raises(wire.WireError, match="characters of output"):
        check_reply({"ok": True, "output": "x" * 5000}, output_limit=4000)


@pytest.mark.parametrize(
    ("driver", "value"),
    [
        (module_probe, {"names": ["weight"], "shapes": [[3, 5]], "output": None}),
        (
            module_probe,
            {"names": ["w"], "shapes": [[2]], "parameter_grads": [None], "input_grads": [1]},
        ),
        (optimizer_run, {"trajectory": [[1.0]], "cleared": [True, False]}),
        (
            run_loop,
            {"value": (1, 2), "steps": [], "final": [None], "modes": [[True, False]]},
        ),
        (outcome, {"predictions": None, "history": {"loss": [1.0]}}),
        (value_graph, [{"data": 1.0, "grads": [0.5]}, {"error": "ZeroDivisionError"}]),
        (evaluate, [{"value": 1}, {"grads": [None]}]),
    ],
)
def test_honest_driver_results_fit_their_shape(driver: Driver, value: Any) -> None:
    assert check_driven(driver, value) is value


@pytest.mark.parametrize(
    ("driver", "value", "where"),
    [
        (module_probe, [1], "module result"),
        (module_probe, {"names": 5}, "module result (names"),
        (
            module_probe,
            {"names": ["w"], "parameter_grads": "ab"},
            "module result (parameter_grads",
        ),
        (optimizer_run, {"trajectory": 1.0}, "optimizer result (trajectory"),
        (run_loop, {"steps": {"a": 1}}, "loop result (steps"),
        (outcome, None, "outcome result"),
        (value_graph, [1, 2], "value_graph result (0"),
        (evaluate, {"value": 1}, "evaluate result"),
    ],
)
def test_driver_results_out_of_shape_are_refused(driver: Driver, value: Any, where: str) -> None:
    with pytest.raises(wire.WireError, match=re.escape(f"malformed {where}")):
        check_driven(driver, value)


# -- the confined child ---------------------------------------------------------------------------
def _spin() -> None:
    while True:
        pass


def _allocate() -> int:
    return len(bytearray(3 << 30))


def _crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _fail() -> None:
    raise KeyError("a bug of the grader")


def _recurse(depth: int = 0) -> int:
    return _recurse(depth + 1)


def test_a_confined_call_returns_its_json_result() -> None:
    assert run_confined(sorted, [3, 1, 2], budget=Budget()) == [1, 2, 3]


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        (_spin, "it took more than 1 s of CPU time"),
        (_allocate, "it needed more than 256 MiB of memory"),
        (_crash, "its evaluation crashed (signal 11)"),
        (_recurse, "nested too deeply"),
    ],
)
def test_work_over_its_budget_costs_the_student_not_the_grader(function: Any, reason: str) -> None:
    with pytest.raises(OverBudget, match=re.escape(reason)):
        run_confined(function, budget=Budget(cpu_seconds=1, memory_mb=256))


def test_a_bug_in_confined_work_is_the_graders() -> None:
    with pytest.raises(ConfinedError, match="KeyError"):
        run_confined(_fail, budget=Budget())


# -- the grader's memory --------------------------------------------------------------------------
def _peak_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as exc:
        pytest.skip(f"the peak memory of a process cannot be reset here ({exc})")


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


@pytest.mark.slow
def test_hostile_replies_and_answers_leave_the_graders_memory_alone(tmp_path: Path) -> None:
    """The grader's peak memory (VmHWM) while it grades replies and answers built to take it."""
    settings = FAST.model_copy(update={"exercise_timeout": 5.0, "include_hidden": False})
    # Imports, the worker template and sympy's caches first: they are not the attacks' doing.
    grade_submission(LAB2_SOLUTION, lab="lab2", device="cpu", settings=settings)
    _peak_reset()
    before = _status_kib("VmRSS")
    for attack, exercise in [
        ("reply_many_keys.py", "lab2.heaviside"),
        ("reply_nested_header.py", "lab2.heaviside"),
        ("reply_oversized_header.py", "lab2.heaviside"),
        ("reply_forged_expression.py", "lab2.d_sigmoid"),
        ("sympy_slow_simplify.py", "lab2.d_sigmoid"),
    ]:
        path = tmp_path / attack / "lab2_activations.py"
        path.parent.mkdir()
        path.write_bytes((ATTACKS / attack).read_bytes())
        result = grade_submission(
            path, lab="lab2", exercises=[exercise], device="cpu", settings=settings
        )
        assert result.exercises[0].status.value in ("error", "failed")
    grown = _status_kib("VmHWM") - before
    assert grown < 96 * 1024, f"the grader's peak memory grew by {grown} KiB"
