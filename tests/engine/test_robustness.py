"""Submissions that hang, exit or do not parse: a clear status for what broke, and every other
exercise still graded."""

from __future__ import annotations

import json

import pytest

from tests.helpers import LAB2_SOLUTION, Grader, exercise, patched, scores, statuses

pytestmark = [pytest.mark.lab2, pytest.mark.slow]

RELU_FORWARD = "        ctx.save_for_backward(x)\n        return torch.where(x < 0, 0.0, x)"
TANH_BACKWARD = "        return grad_output * (1 - y * y)"


def solution() -> str:
    return LAB2_SOLUTION.read_text(encoding="utf-8")


def test_infinite_loop_times_out_one_exercise(grade_text: Grader) -> None:
    source = patched(solution(), [(RELU_FORWARD, "        while True:\n            pass")])
    result = grade_text(source)
    assert statuses(result)["lab2.relu"] == "timeout"
    assert scores(result)["lab2.relu"] == 0.0
    assert result.score == 18.0
    relu = exercise(result, "lab2.relu")
    assert "did not finish within the 10 s limit" in relu.message


def test_exit_in_a_function_is_an_error_for_that_exercise(grade_text: Grader) -> None:
    source = patched(solution(), [(TANH_BACKWARD, "        import os\n        os._exit(0)")])
    result = grade_text(source)
    tanh = exercise(result, "lab2.tanh")
    # Forward checks still pass: only the checks that run backward lose their points.
    assert tanh.status.value == "error"
    assert tanh.score == 0.75
    assert "the Python process ended with exit code 0 while running tanh" in tanh.message
    assert result.score == 18.75


def test_system_exit_raised_is_caught(grade_text: Grader) -> None:
    source = patched(solution(), [(RELU_FORWARD, "        raise SystemExit(0)")])
    result = grade_text(source)
    assert (statuses(result)["lab2.relu"], scores(result)["lab2.relu"]) == ("error", 0.0)
    assert "SystemExit" in exercise(result, "lab2.relu").message
    assert result.score == 18.0


@pytest.mark.parametrize(
    ("exit_call", "note"),
    [
        ("import os; os._exit(0)", "ended the Python process (exit code 0); it was skipped"),
        ("import sys; sys.exit(0)", "raised SystemExit: 0"),
    ],
)
def test_exit_at_import_loses_only_that_cell(grade_text: Grader, exit_call: str, note: str) -> None:
    source = solution().replace("# %%\nclass Tanh(", f"# %%\n{exit_call}\nclass Tanh(", 1)
    assert f"{exit_call}\nclass Tanh(" in source
    result = grade_text(source)
    assert statuses(result)["lab2.tanh"] == "error"
    assert any(note in n for n in result.notes), result.notes
    assert result.score == 18.0


def test_hanging_cell_is_skipped(grade_text: Grader) -> None:
    source = solution().replace("# %%\nclass ReLU(", "# %%\nwhile True:\n    pass\nclass ReLU(", 1)
    result = grade_text(source)
    assert statuses(result)["lab2.relu"] == "error"
    assert any("did not finish within 10 s" in note for note in result.notes)
    assert result.score == 18.0


def test_syntax_error_in_one_cell(grade_text: Grader) -> None:
    source = patched(
        solution(), [("    def forward(ctx, x, a):\n", "    def forward(ctx, x, a)\n")]
    )
    result = grade_text(source)
    prelu = exercise(result, "lab2.prelu")
    assert prelu.status.value == "error"
    assert "SyntaxError" in prelu.message
    assert result.score == 18.0


def test_syntax_error_in_a_plain_module_fails_every_exercise(grade_text: Grader) -> None:
    source = solution().replace("# %%", "#").replace("def sigmoid(x:", "def sigmoid(x,,", 1)
    result = grade_text(source)
    assert set(statuses(result).values()) == {"error"}
    assert "SyntaxError" in result.exercises[0].message
    assert result.score == 0.0
    # No check ran: COURSE.md's JSON still has every key, with an empty list of checks.
    assert all(e.public_dict()["checks"] == [] for e in result.exercises)


def test_missing_definition(grade_text: Grader) -> None:
    source = solution().replace("def heaviside(", "def heavyside(", 1)
    result = grade_text(source)
    heaviside = exercise(result, "lab2.heaviside")
    assert heaviside.status.value == "missing"
    assert "heaviside is not defined" in heaviside.message
    assert heaviside.public_dict()["checks"] == []
    assert result.score == 19.0


def test_prints_are_captured_not_mixed_into_json(grade_text: Grader) -> None:
    source = patched(
        solution(),
        [(RELU_FORWARD, '        print("{\\"lab\\": \\"fake\\"}")\n' + RELU_FORWARD)],
    )
    result = grade_text(source)
    relu = exercise(result, "lab2.relu")
    assert relu.status.value == "passed"
    assert '{"lab": "fake"}' in relu.output
    json.dumps(result.public_dict())


def test_huge_allocation_is_an_error_not_a_crash(grade_text: Grader) -> None:
    source = patched(solution(), [(RELU_FORWARD, "        return torch.empty(10**10)")])
    result = grade_text(source)
    relu = exercise(result, "lab2.relu")
    assert relu.status.value == "error"
    assert relu.score == 0.0
    assert result.score == 18.0


def test_returning_a_non_tensor_fails_with_an_explanation(grade_text: Grader) -> None:
    source = patched(solution(), [(RELU_FORWARD, "        return 'all tests passed'")])
    result = grade_text(source)
    relu = exercise(result, "lab2.relu")
    # Forward checks fail; backward checks cannot even run, which makes the exercise an error.
    assert (relu.status.value, relu.score) == ("error", 0.0)
    assert "should be a tensor, but it is str 'all tests passed'" in relu.message
    assert "returned str, so no gradient can flow back" in relu.message
    assert result.score == 18.0


def test_oversized_result_is_refused(grade_text: Grader) -> None:
    source = patched(solution(), [(RELU_FORWARD, "        return torch.zeros(100_000_000)")])
    result = grade_text(source, exercises=["lab2.relu", "lab2.tanh"])
    relu, tanh = result.exercises
    assert (relu.status.value, relu.score) == ("error", 0.0)
    assert "ResultTooLarge: the result is 400000000 bytes, over the" in relu.message
    assert (tanh.status.value, tanh.score) == ("passed", 2.0)


def test_forged_reply_on_the_grader_channel_is_refused(grade_text: Grader) -> None:
    forge = (
        "        import os, struct\n"
        "        os.write(4, struct.pack('>QQ', 10**12, 0))\n"
        "        while True:\n"
        "            pass"
    )
    source = patched(solution(), [(RELU_FORWARD, forge)])
    result = grade_text(source, exercises=["lab2.relu", "lab2.tanh"])
    relu, tanh = result.exercises
    assert (relu.status.value, relu.score) == ("error", 0.0)
    assert (
        "relu sent back an invalid result: message of 1000000000000 bytes exceeds" in relu.message
    )
    assert (tanh.status.value, tanh.score) == ("passed", 2.0)


@pytest.mark.parametrize("layout", ["plain", "percent"])
def test_a_module_runs_with_its_file_set(grade_text: Grader, layout: str) -> None:
    """As any imported module, a .py submission has ``__file__``: students read data next to
    it. Its folder is the worker's working folder, where relative paths lead too."""
    prelude = (
        "from pathlib import Path\n"
        "DATA = Path(__file__).parent / 'data.csv'\n"
        "assert Path(__file__).name == 'lab2_activations.py', __file__\n"
        "assert DATA.parent == Path.cwd(), DATA\n"
    )
    source = solution() if layout == "percent" else solution().replace("# %%", "#")
    result = grade_text(prelude + source, exercises=["lab2.relu"])
    assert result.notes == []
    assert statuses(result) == {"lab2.relu": "passed"}
