"""Forbidden library calls: the families of equivalent names, the source scan's use of them, the
grader's reading of the detector's report, and the worker's run-time detector itself.

The detector rewires the process it runs in (watchers in NumPy and SciPy, guarded switches), so
its tests run it in a fresh interpreter, as the worker does, never in the test process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from deepgrade.engine.forbidden import reported_tampering, scan
from deepgrade.sandbox.worker.equivalents import expand


def test_a_forbidden_name_forbids_its_whole_family() -> None:
    forbidden = expand(["torch.sigmoid"])
    assert {"sigmoid", "sigmoid_", "expit", "special_expit", "Sigmoid"} <= forbidden.names
    assert {"sigmoid", "sigmoid_"} <= forbidden.ops
    assert "scipy.special.expit" in forbidden.calls
    # Another library's function named in full forbids that function and its family.
    inverse = expand(["numpy.linalg.inv"])
    assert {"numpy.linalg.inv", "scipy.linalg.inv"} <= inverse.calls
    assert "linalg_inv_ex" in inverse.ops


def test_families_stay_apart_and_names_without_one_stay_themselves() -> None:
    forbidden = expand(["tanh"])
    assert "sigmoid" not in forbidden.names and "exp" not in forbidden.ops
    assert expand(["load_digits"]).names == {"load_digits", "load_digits_"}
    assert not expand([])


def test_the_wire_form_round_trips_and_ignores_junk() -> None:
    forbidden = expand(["softmax"])
    assert type(forbidden).from_wire(forbidden.to_wire()) == forbidden
    assert not type(forbidden).from_wire(["softmax"])


def test_scan_knows_aliases_and_names_the_library() -> None:
    cells = [
        "import numpy as np\nfrom scipy.special import expit as squash\n",
        "class Tanh:\n    def forward(ctx, x):\n        return np.tanh(x)\n",
        "class Sigmoid:\n    def forward(ctx, x):\n        return squash(x)\n",
    ]
    tanh = scan(cells, ["Tanh"], ["tanh"])
    assert [(f.name, f.scope, f.cell) for f in tanh] == [("tanh", "Tanh", 1)]
    # As written, then with its library, and the line the student wrote.
    assert str(tanh[0]) == "np.tanh (numpy.tanh) called in Tanh (cell 2, line 3: return np.tanh(x))"
    sigmoid = scan(cells, ["Sigmoid"], ["torch.sigmoid"])
    assert [(f.name, str(f)) for f in sigmoid] == [
        (
            "expit",
            "squash (scipy.special.expit) called in Sigmoid (cell 3, line 3: return squash(x))",
        )
    ]


def test_a_malformed_report_of_the_detector_is_tampering() -> None:
    assert reported_tampering({"detector": {"tampering": []}}) is None
    # No report at all: a forged reply, judged on its values (the forged_reply attack).
    assert reported_tampering({"ok": True}) is None
    for report in ({"tampering": [1]}, {"tampering": "none"}, [], None):
        assert "was tampered with" in str(reported_tampering({"detector": report}))
    found = reported_tampering({"detector": {"tampering": ["it replaced builtins.len", "x"]}})
    assert found == "it replaced builtins.len (and 1 more)"


# What a submission would do, run by this interpreter's "__main__" (the submission's stand-in),
# next to what the grader's harness does (deepgrade.sandbox.worker.drivers' code).
_DETECTOR_SCRIPT = """
import builtins, json, sys, threading
from concurrent.futures import ThreadPoolExecutor

import torch
from deepgrade.sandbox.worker import detector as _detector
from deepgrade.sandbox.worker import drivers as _drivers
from deepgrade.sandbox.worker.equivalents import expand

_detector.install()
import numpy
from numpy import tanh as bound_after_install

x = torch.linspace(-2, 2, 5, dtype=torch.float64)
report = {}


def watched(name, forbidden, action):
    try:
        with _detector.watching(expand(forbidden), {}) as detector:
            action()
    except BaseException:
        pass
    report[name] = detector.used


def honest_sigmoid():
    leaf = x.clone().requires_grad_(True)
    (1 / (1 + torch.exp(-leaf))).sum().backward()


watched("honest", ["sigmoid"], honest_sigmoid)
watched("harness", ["tanh"], lambda: _drivers.UNARY["tanh"](x))
watched("student", ["tanh"], lambda: torch.tanh(x))
watched("numpy", ["tanh"], lambda: numpy.tanh(x.numpy()))
watched("bound", ["tanh"], lambda: bound_after_install(x.numpy()))
watched("operator", ["sigmoid"], lambda: torch.ops.aten.sigmoid.default(x))
POOL = ThreadPoolExecutor(max_workers=1)
watched("pool", ["tanh"], lambda: POOL.submit(torch.tanh, x).result())
watched("pool again", ["tanh"], lambda: POOL.submit(torch.tanh, x).result())
report["dynamo"] = "torch._dynamo" in sys.modules
report["clean"] = _detector.tampering()
numpy.tanh = numpy.exp
report["watcher replaced"] = _detector.tampering()
builtins.len = lambda value: 0
report["tampered"] = _detector.tampering()
print(json.dumps(report))
"""


def test_the_detector_sees_what_is_called_and_who_called_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DETECTOR_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.splitlines()[-1])
    # An honest solution and the grader's own harness never trip it.
    assert report["honest"] == report["harness"] == []
    assert [used.split(" (<")[0] for used in report["student"]] == [
        "tanh (torch.tanh, PyTorch) in <lambda>"
    ]
    assert [used.split(" in ")[0] for used in report["numpy"]] == ["tanh (numpy.tanh, NumPy)"]
    assert [used.split(" in ")[0] for used in report["bound"]] == ["tanh (numpy.tanh, NumPy)"]
    assert report["operator"][0].startswith("sigmoid (torch.ops.aten.sigmoid.default, PyTorch)")
    # A thread serves whichever call is watched when it runs, not the one that started it.
    assert (
        report["pool"]
        == report["pool again"]
        == ["tanh (torch.tanh, PyTorch) in a thread it started"]
    )
    assert report["dynamo"] is False
    assert report["clean"] == []
    # A watcher replaced is tampering, not a new function to watch.
    assert report["watcher replaced"] == ["it replaced numpy.tanh"]
    assert report["tampered"] == ["it replaced builtins.len", "it replaced numpy.tanh"]
