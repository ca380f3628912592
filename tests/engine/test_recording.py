"""Student releases: public checks replayed from recordings grade exactly as the live references.

Each lab is exported once into a release folder (``autograder/<folder>/`` with ``lab.toml``,
``recorded.pt`` and the judges); a submission placed next to it is graded against it. The
solution earns full marks, the stub nothing, and planted bugs earn the same scores, statuses
and messages as with the live ``references.py`` (public checks only on both sides).
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
import torch

from deepgrade.engine.checks.context import call_with
from deepgrade.engine.checks.judge import JudgeCheck
from deepgrade.engine.checks.module import ModuleCheck
from deepgrade.engine.grading import grade_cells, grade_submission
from deepgrade.engine.loader import load_submission
from deepgrade.engine.recording import (
    Recordings,
    call_key,
    export_public_checks,
    extract_definitions,
)
from deepgrade.errors import SpecError
from deepgrade.model.spec import RECORDED_FILE, LabSpec, load_lab
from tests.helpers import ROOT, Lab, scores, statuses
from tests.labs import lab1, lab2, lab3, lab4, lab5, lab6, lab7, lab8, lab9, lab10

LABS: dict[str, Lab] = {
    module.LAB.folder: module.LAB
    for module in (lab1, lab2, lab3, lab4, lab5, lab6, lab7, lab8, lab9, lab10)
}

# Planted bugs whose failures go through recorded references, replayed mistakes (hints),
# input builders, reference modules, trajectories and judges.
REPLAYED_BUGS: dict[str, list[str]] = {
    # Not a least_squares bug: float32 lstsq is not deterministic here (MKL), so the printed
    # expected values of a live and a replayed grading can differ in their last digits.
    "lab1_linear": [
        "predict X @ W + b",
        "mse_grad with the sign flipped",
        "fit_gd drops the last partial batch",
    ],
    "lab2_activations": ["heaviside(0) = 0", "backward ignores grad_output"],
    "lab3_losses": [
        "BCE clamping p instead of the logs",
        "cross-entropy shifted by the batch's maximum",
        "L2 penalty with a square root",
    ],
    "lab4_backprop": [
        "chain rule: each factor gets itself",
        "numerical_gradient: forward difference",
        "mlp2: dW2 transposed",
    ],
    "lab5_modules": [
        "Linear weight [in, out] used as x @ W",
        "perceptron_train never updates b",
        "Maxout reads the weight rows in the wrong layout",
    ],
    "lab6_training": [
        "SGD momentum with dampening",
        "minibatches dropping the last batch",
        "train_epoch without zero_grad",
    ],
    "lab7_report": ["team of four", "history without accuracy"],
    # Warm-up batches, buffers and a judge shipped as code (a random output).
    "lab8_convolution": [
        "conv2d with the kernel flipped",
        "BatchNorm2d batch statistics in evaluation mode",
        "Dropout without the 1/(1-p) scale",
    ],
    "lab9_recurrent": [
        "rnn_forward does not carry the state",
        "LSTMCell gates in the order i, f, o, g",
        "clip_grad_norm clips each gradient separately",
    ],
    # Tuple results differentiated through both, module methods of several arguments.
    "lab10_attention": [
        "mask inverted",
        "heads split along the sequence",
        "positional encoding with sin and cos swapped",
    ],
}
BUG_TABLES = {
    m.LAB.folder: m.BUGS for m in (lab1, lab2, lab3, lab4, lab5, lab6, lab7, lab8, lab9, lab10)
}


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every lab exported into one release folder's ``autograder/``."""
    root = tmp_path_factory.mktemp("release")
    for folder in LABS:
        export_public_checks(ROOT / "autograder" / folder, root / "autograder" / folder)
    return root


@pytest.mark.parametrize("folder", list(LABS))
def test_release_holds_no_solution_code(releases: Path, folder: str) -> None:
    released = releases / "autograder" / folder
    names = {path.name for path in released.iterdir()}
    assert names <= {"lab.toml", RECORDED_FILE, "references.py"}
    assert RECORDED_FILE in names
    lab = load_lab(released)
    assert not lab.has_hidden
    references = released / "references.py"
    if not references.is_file():
        return
    defined = set()
    for node in ast.parse(references.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    live = ROOT / "autograder" / folder
    checks = "".join(path.read_text(encoding="utf-8") for path in live.glob("*.toml"))
    judges = {c.judge.removeprefix("lab:") for c in _judge_checks(lab) if c.judge is not None}
    # What a judge compares with comes from its `expected` reference, recorded like any other:
    # no reference, mistake or builder that a check names ships as code.
    named = {name for name in defined - judges if f'"lab:{name}"' in checks}
    assert not named


def _judge_checks(lab: LabSpec) -> list[JudgeCheck | ModuleCheck]:
    """The checks whose judge ships as code: judge checks, and module checks with a judge
    (Lab 8's Dropout)."""
    return [
        c
        for e in lab.exercises
        for c in e.checks
        if isinstance(c, JudgeCheck) or (isinstance(c, ModuleCheck) and c.judge is not None)
    ]


@pytest.mark.parametrize("folder", list(LABS))
def test_solution_and_stub_next_to_a_release(releases: Path, folder: str, tmp_path: Path) -> None:
    lab = LABS[folder]
    for source, expected in ((lab.solution, lab.full), (lab.stub, dict.fromkeys(lab.full, 0.0))):
        path = releases / lab.name
        shutil.copyfile(source, path)
        try:
            result = grade_submission(path, settings=lab.settings, device="cpu")
        finally:
            path.unlink()
        assert not result.hidden_checks_run
        assert scores(result) == expected, result.exercises
        assert set(statuses(result).values()) == (
            {"passed"} if source == lab.solution else {"not_implemented"}
        )


@pytest.mark.parametrize(
    ("folder", "bug"), [(folder, bug) for folder, bugs in REPLAYED_BUGS.items() for bug in bugs]
)
def test_planted_bugs_grade_as_with_live_references(
    releases: Path, folder: str, bug: str, tmp_path: Path
) -> None:
    lab = LABS[folder]
    planted = BUG_TABLES[folder][bug]
    touched = list(planted.score)
    path = tmp_path / lab.name
    path.write_text(lab.planted(planted), encoding="utf-8")
    submission = load_submission(path)
    replayed, live = (
        grade_cells(submission, spec, touched, "cpu", lab.settings)
        for spec in (
            load_lab(releases / "autograder" / folder),
            load_lab(lab.checks, include_hidden=False),
        )
    )
    assert replayed.model_dump()["exercises"] == live.model_dump()["exercises"]
    assert any(score < lab.full[e] for e, score in scores(replayed).items())


def test_a_call_never_recorded_fails_naming_the_reference(releases: Path, tmp_path: Path) -> None:
    lab = LABS["lab3_losses"]
    released = tmp_path / "autograder" / lab.folder
    shutil.copytree(releases / "autograder" / lab.folder, released)
    recordings = Recordings.load(released)
    assert recordings is not None
    recordings.calls = {
        key: entry
        for key, entry in recordings.calls.items()
        if entry["reference"] != "lab:l2_penalty"
    }
    recordings.save()
    path = tmp_path / lab.name
    shutil.copyfile(lab.solution, path)
    # The grader's fault, not the student's: the exercise is left ungraded, not zeroed.
    result = grade_submission(path, settings=lab.settings, device="cpu", exercises=["l2_penalty"])
    assert statuses(result) == {"lab3.l2_penalty": "grader_error"}
    assert re.search(r"lab:l2_penalty: .* holds no result", result.exercises[0].message)
    with pytest.raises(SpecError, match="lab:other"):
        recordings.replay("lab:other", call_with, ([torch.zeros(2)], {}))


def test_recorded_failures_replay_as_failures(tmp_path: Path) -> None:
    recordings = Recordings(tmp_path / RECORDED_FILE)
    payload = ([torch.ones(3)], {"dim": 5})
    failure = IndexError("dim 5 out of range")
    recordings.record_failure(call_key("lab:f", call_with, payload), "lab:f", failure)
    result = (torch.ones(3), [1.5, float("nan")])
    recordings.record(call_key("lab:g", call_with, payload), "lab:g", result)
    recordings.save()
    loaded = Recordings.load(tmp_path)
    assert loaded is not None
    with pytest.raises(Exception, match="IndexError: dim 5 out of range"):
        loaded.replay("lab:f", call_with, payload)
    value = loaded.replay("lab:g", call_with, ([torch.ones(3)], {"dim": 5}))
    assert torch.equal(value[0], torch.ones(3)) and value[1][0] == 1.5
    # A float64 copy of the same argument is another call.
    with pytest.raises(SpecError):
        loaded.replay("lab:g", call_with, ([torch.ones(3, dtype=torch.float64)], {"dim": 5}))


def test_judges_ship_with_what_they_use_only() -> None:
    source = (
        "from __future__ import annotations\n"
        "import math\n"
        "import torch\n"
        "LIMIT = 2\n"
        "def solution(x):\n    return torch.sin(x)\n"
        "def _check(value):\n    return math.isfinite(value) and value < LIMIT\n"
        "def judge(result, args, kwargs):\n"
        "    solution = result  # a local of the same name as the reference\n"
        "    return None if _check(solution) else 'too large'\n"
    )
    extracted = extract_definitions(source, ["judge"], "references.py")
    namespace: dict[str, object] = {}
    exec(compile(extracted, "references.py", "exec"), namespace)
    assert "solution" not in namespace and "torch" not in namespace
    assert namespace["judge"](1.0, [], {}) is None  # type: ignore[operator]
    assert namespace["judge"](3.0, [], {}) == "too large"  # type: ignore[operator]


def test_a_release_is_the_same_file_whatever_ran_before(tmp_path: Path) -> None:
    # Attention's sums are split across threads, and nothing fixes the global random state
    # between tests: neither may change what a release records.
    def recorded(threads: int, draws: int) -> bytes:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        torch.randn(draws)
        try:
            out = tmp_path / f"{threads}-{draws}"
            export_public_checks(ROOT / "autograder" / "lab10_attention", out)
        finally:
            torch.set_num_threads(before)
        return (out / RECORDED_FILE).read_bytes()

    assert recorded(1, 1) == recorded(2, 12345)
