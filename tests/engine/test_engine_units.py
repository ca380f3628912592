"""Unit tests of the engine's pieces: wire format, comparison, symbolic answers, source scan,
scoring and lab loading."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import sympy
import torch

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, does_not_run
from deepgrade.engine.comparison import Tolerance, compare
from deepgrade.engine.forbidden import scan
from deepgrade.engine.loader import Cell, Submission, load_submission
from deepgrade.engine.locations import located, reported, student_frames, unlocated
from deepgrade.engine.symbolic import ExpressionError, equivalent, rebuild
from deepgrade.errors import SpecError
from deepgrade.model.results import (
    CheckResult,
    ExerciseResult,
    Status,
    format_points,
    score_exercise,
)
from deepgrade.model.spec import load_lab
from deepgrade.sandbox import wire
from tests.helpers import ROOT, ToyCourse

TOL = Tolerance(rtol=1e-6, atol=1e-6)


def roundtrip(value: object) -> object:
    tensors: list[torch.Tensor] = []
    data = wire.encode(value, tensors)
    message = wire.pack({"value": data}, tensors)
    head_len, blob_len = wire.parse_lengths(message[: wire.PREFIX_SIZE], 1 << 20)
    start = wire.PREFIX_SIZE
    header, out = wire.unpack(message[start : start + head_len], message[start + head_len :])
    assert len(message) == start + head_len + blob_len
    return wire.decode(header["value"], out)


def test_wire_roundtrip_of_structures() -> None:
    value = roundtrip({"a": (torch.arange(3.0), [1, 2.5, math.inf]), "b": None})
    assert isinstance(value, dict)
    tensor, items = value["a"]
    assert torch.equal(tensor, torch.arange(3.0))
    assert items == [1, 2.5, math.inf]


def test_wire_names_objects_instead_of_sending_them() -> None:
    class Sneaky:
        def __eq__(self, other: object) -> bool:
            return True

    value = roundtrip(Sneaky())
    assert isinstance(value, wire.ForeignObject)
    assert value.type_name.endswith("Sneaky")


def test_wire_refuses_subclasses_and_oversized_messages() -> None:
    class MyTensor(torch.Tensor):
        pass

    assert isinstance(roundtrip(torch.zeros(2).as_subclass(MyTensor)), wire.ForeignObject)
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.parse_lengths(wire.pack({}, [torch.zeros(1000)])[: wire.PREFIX_SIZE], 100)


class Payload:
    """Stands for any pickled object a hostile worker might send."""


def test_wire_refuses_pickled_objects() -> None:
    buffer = io.BytesIO()
    torch.save([torch.zeros(1), Payload()], buffer)
    with pytest.raises(wire.WireError):
        wire.unpack(b"{}", buffer.getvalue())
    with pytest.raises(wire.WireError):
        wire.unpack(b'{"header": {}, "tensors": []}', buffer.getvalue())


def test_wire_keeps_every_dtype_shape_and_bit() -> None:
    sent = [
        torch.tensor([-0.0, math.nan, math.inf], dtype=torch.float64),
        torch.randn(3, 2).t(),  # not contiguous: a transposed matrix, which arrives transposed
        torch.tensor(True),
        torch.zeros(0, 3, dtype=torch.int16),
        torch.randn(2, dtype=torch.complex64),
        torch.randn(3).to(torch.bfloat16),
        torch.tensor(7, dtype=torch.uint8),
        torch.arange(120.0)[::60][:1],  # one element, with a stride of 60
        torch.randn(4, 15).t()[:1],  # a row of a transposed matrix
    ]
    got = roundtrip(sent)
    assert isinstance(got, list)
    for before, after in zip(sent, got, strict=True):
        assert (after.dtype, after.shape) == (before.dtype, before.shape)
        transposed = before.dim() >= 2 and not before.is_contiguous() and before.mT.is_contiguous()
        assert after.is_contiguous() != transposed
        assert torch.equal(_bits(before), _bits(after))


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    flat = torch.empty(tensor.numel(), dtype=tensor.dtype)
    flat.copy_(tensor.reshape(-1))
    return flat.view(torch.uint8)


@pytest.mark.parametrize(
    ("layout", "blob", "reason"),
    [
        ([["float32", [2]]], bytes(4), "shorter"),
        ([["float32", [1]]], bytes(32), "longer"),
        ([["object", [1]]], bytes(16), "unknown dtype"),
        ([["float32", [-1]]], bytes(16), "shape"),
        ([["float32", [1.5]]], bytes(16), "shape"),
        ([["float32"]], bytes(16), "layout"),
        ({"0": 1}, b"", "layout"),
    ],
)
def test_wire_refuses_tensor_bytes_that_do_not_match_their_layout(
    layout: object, blob: bytes, reason: str
) -> None:
    head = json.dumps({"header": {}, "tensors": layout}).encode()
    with pytest.raises(wire.WireError, match=reason):
        wire.unpack(head, blob)


def test_wire_names_tensors_of_unusual_dtypes() -> None:
    value = roundtrip(torch.zeros(2, dtype=torch.float8_e4m3fn))
    assert isinstance(value, wire.ForeignObject)
    assert "float8" in value.type_name


def test_compare_reports_the_worst_element() -> None:
    expected = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    got = expected.clone()
    got[1, 0] = 2.5
    verdict = compare(expected, got, TOL)
    assert not verdict.ok
    assert verdict.worst_index == (1, 0)
    assert "worst at index [1, 0]: expected 2, got 2.5" in verdict.message
    assert "rtol=1e-06, atol=1e-06" in verdict.message


@pytest.mark.parametrize(
    ("got", "words"),
    [
        (torch.zeros(3, 2), "shape [3, 2], expected [2, 3] (same number of elements"),
        (torch.zeros(2, 3, dtype=torch.float64), "dtype float64, expected float32"),
        (1.5, "should be a tensor, but it is float 1.5"),
        (torch.full((2, 3), torch.nan), "NaN or infinity where the answer is finite"),
        (2 * torch.ones(2, 3), "2 times the expected ones"),
        (1.00002 * torch.ones(2, 3), "1.00002 times the expected ones"),
    ],
)
def test_compare_explains_mismatches(got: object, words: str) -> None:
    verdict = compare(torch.ones(2, 3), got, TOL)
    assert not verdict.ok
    assert words in verdict.message


def test_rebuild_accepts_whitelisted_expressions_only() -> None:
    x = sympy.Symbol("x", real=True)
    tree = {"func": "Mul", "args": [{"func": "exp", "args": [{"symbol": "x"}]}, {"integer": "2"}]}
    assert rebuild(tree, {"x": x}) == 2 * sympy.exp(x)
    with pytest.raises(ExpressionError, match="Derivative is not allowed"):
        rebuild({"func": "Derivative", "args": [{"symbol": "x"}]}, {"x": x})
    with pytest.raises(ExpressionError, match="unknown symbol 'y'"):
        rebuild({"symbol": "y"}, {"x": x})


def test_equivalence_falls_back_to_numbers() -> None:
    x = sympy.Symbol("x", real=True)
    s = 1 / (1 + sympy.exp(-x))
    assert equivalent(sympy.exp(-x) / (1 + sympy.exp(-x)) ** 2, s * (1 - s), [x], {})[0]
    ok, reason = equivalent(s, s * (1 - s), [x], {})
    assert not ok
    assert "at x =" in reason


def test_scan_finds_forbidden_calls_in_graded_scopes_only() -> None:
    cells = [
        "import torch\nfrom torch import sigmoid as sg\n",
        "class Sigmoid:\n    def forward(ctx, x):\n        return x.sigmoid()\n",
        "def helper(x):\n    return torch.sigmoid(x)\n",
        "def sigmoid(x):\n    return Sigmoid.apply(x)\n",
    ]
    findings = scan(cells, ["Sigmoid", "sigmoid"], ["sigmoid"])
    assert [(f.scope, f.line, f.cell) for f in findings] == [("Sigmoid", 3, 1)]
    # The call as written, where the student finds it: the cell and its line's text.
    assert str(findings[0]) == "x.sigmoid called in Sigmoid (cell 2, line 3: return x.sigmoid())"


def test_partial_credit_and_statuses() -> None:
    def check(status: Status, weight: float = 1.0) -> CheckResult:
        return CheckResult(name="c", status=status, weight=weight, message="m")

    half = score_exercise("e", 2.0, [check(Status.PASSED), check(Status.FAILED)])
    assert (half.status, half.score) == (Status.FAILED, 1.0)
    stub = score_exercise("e", 2.0, [check(Status.NOT_IMPLEMENTED)] * 2)
    assert (stub.status, stub.score) == (Status.NOT_IMPLEMENTED, 0.0)
    slow = score_exercise("e", 2.0, [check(Status.PASSED, 3.0), check(Status.TIMEOUT)])
    assert (slow.status, slow.score) == (Status.TIMEOUT, 1.5)


def test_public_lab_leaves_hidden_checks_out() -> None:
    folder = ROOT / "autograder" / "lab2_activations"
    full, public = load_lab(folder), load_lab(folder, include_hidden=False)
    assert full.has_hidden and not public.has_hidden
    count = sum(len(e.checks) for e in full.exercises)
    assert count > sum(len(e.checks) for e in public.exercises)
    assert all(not c.hidden for e in public.exercises for c in e.checks)
    assert full.max_score == public.max_score == 20.0


def test_invalid_lab_file_is_a_spec_error(toy_lab: ToyCourse) -> None:
    folder = toy_lab.lab(
        'id = "x"\ntitle = "t"\nnotebook = "x.ipynb"\nmodule = "x.py"\n'
        '[[exercises]]\nid = "x.a"\npoints = 1\nrequires = ["a"]\n'
        '[[exercises.checks]]\nkind = "telepathy"\nname = "n"\n'
    )
    with pytest.raises(SpecError, match="unknown check kind 'telepathy'"):
        load_lab(folder)


def test_every_public_name_resolves() -> None:
    import deepgrade

    missing = [n for n in deepgrade.__all__ if n != "__version__" and not getattr(deepgrade, n)]
    assert not missing


def test_tampering_is_seen_in_dotted_module_names_too() -> None:
    from deepgrade.engine.forbidden import tampering

    source = 'import sys\nworker = sys.modules["deepgrade.sandbox.worker.main"]\n_ACTIVE = True\n'
    assert [finding.name for finding in tampering([source])] == ["deepgrade.sandbox.worker.main"]


# -- where in the student's code ------------------------------------------------------------------
def _notebook_like() -> Submission:
    """Code cells at positions 2 and 6 of a notebook whose other cells are markdown."""
    cells = [
        Cell(1, "import torch\n"),
        Cell(
            5,
            "def sigmoid(x):\n    y = helper(x)\n    return y\n\n"
            "def helper(x):\n    return x + None\n",
        ),
    ]
    return Submission(Path("lab2_activations.ipynb"), cells, "lab2", is_notebook=True)


_TRACEBACK = """Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/deepgrade/sandbox/worker/drivers.py", line 40, in call
    return target(*args)
  File "<cell 6>", line 2, in sigmoid
  File "<cell 6>", line 6, in helper
  File "<cell 99>", line 1, in forged
  File "<cell 6>", line 4000, in forged
  File "/usr/lib/python3/site-packages/torch/_tensor.py", line 12, in __add__
TypeError: unsupported operand type(s) for +: 'Tensor' and 'NoneType'
"""


def test_an_error_shows_the_students_frames_only_with_their_lines() -> None:
    submission = _notebook_like()
    assert student_frames(submission, _TRACEBACK) == [
        "cell 6, line 2, in sigmoid: y = helper(x)",
        "cell 6, line 6, in helper: return x + None",
    ]
    # The worker's and PyTorch's frames, and frames naming no line of the submission, are gone.
    text = located(submission, _TRACEBACK)
    assert "drivers.py" not in text and "_tensor.py" not in text and "forged" not in text
    assert unlocated("TypeError: boom" + text) == "TypeError: boom"


def test_a_detector_report_names_the_cell_as_the_student_counts_it() -> None:
    said = reported(
        _notebook_like(), "sigmoid (torch.sigmoid, PyTorch) in helper (<cell 6>, line 6)"
    )
    assert said == "sigmoid (torch.sigmoid, PyTorch) in helper (cell 6, line 6: return x + None)"
    # A name that is none of the submission's cells is left as the report had it.
    assert reported(_notebook_like(), "in f (<string>, line 5)") == "in f (<string>, line 5)"


def test_scan_names_the_cell_counting_every_cell_and_the_call_as_written() -> None:
    cells = [
        Cell(2, "import numpy as np\nimport torch.nn.functional as F\n"),
        Cell(6, "def tanh(x):\n    return np.tanh(x)\n\ndef relu(x):\n    return F.relu(x)\n"),
    ]
    (tanh,) = scan(cells, ["tanh"], ["tanh"])
    assert str(tanh) == "np.tanh (numpy.tanh) called in tanh (cell 7, line 2: return np.tanh(x))"
    (relu,) = scan(cells, ["relu"], ["relu"])
    assert str(relu).startswith("F.relu (torch.nn.functional.relu) called in relu (cell 7, line 5")


def test_a_module_and_a_kernel_history_name_their_cells_as_the_student_sees_them(
    tmp_path: Path,
) -> None:
    module = tmp_path / "lab2_activations.py"
    module.write_text("x = 1\n", encoding="utf-8")
    assert [c.label for c in load_submission(module).cells] == ["lab2_activations.py"]
    assert Cell(6, "", "In [6]").filename == "<In [6]>"
    assert Cell(6, "").label == "cell 7"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (2.0, "2"),
        (1.5, "1.5"),
        (2 / 3, "0.67"),
        (0.333333, "0.33"),
        (19.999999, "20"),
        (-1e-9, "0"),
    ],
)
def test_points_are_shown_with_at_most_two_decimals(value: float, shown: str) -> None:
    assert format_points(value) == shown
    result = ExerciseResult(id="e", status=Status.FAILED, score=value, max_score=2 / 3)
    assert result.points_label == f"{shown} / 0.67"
    # JSON keeps the exact value.
    assert result.public_dict()["score"] == value


class _Hinted(CheckSpec):
    kind: str = "hinted"
    name: str = "c"

    def run(self, ctx: Any) -> CheckOutcome:
        raise NotImplementedError


@pytest.mark.parametrize(("explained", "hinted"), [(True, True), (False, False)])
def test_a_hint_is_given_only_where_it_can_be_the_cause(explained: bool, hinted: bool) -> None:
    check = _Hinted(hint="the derivative of tanh is 1 - tanh**2")
    outcome = check.failed("wrong", "a known mistake", explained=explained)
    assert ("Hint: a known mistake" in outcome.message) is hinted
    assert ("Hint:" in check.failed("wrong", explained=explained).message) is hinted


@pytest.mark.parametrize(
    ("error", "runs"),
    [
        ("NameError: name 'e' is not defined", False),
        ("it raised TypeError: unsupported operand", False),
        ("building it raised ModuleNotFoundError: no numpy", False),
        ("building it raised OverflowError: math range error", True),
        ("AttributeError: 'float' object has no attribute 'data'", True),
        ("the value should be 1, got 2", True),
    ],
)
def test_code_that_does_not_run_as_written_earns_no_hint(error: str, runs: bool) -> None:
    assert does_not_run(error) is not runs
