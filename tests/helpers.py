"""What the tests share: paths of the bundled course, quick grader settings, text patches,
a toy course to write small labs into, the lab grade tests' machinery (a lab's full marks, its
planted bugs) and a small class of Lab 2 submissions. Fixtures that use these are in conftest.py.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch

from deepgrade.engine.grading import grade_cells, grade_submission
from deepgrade.engine.loader import load_submission
from deepgrade.model.results import ExerciseResult, LabResult
from deepgrade.model.spec import load_lab
from deepgrade.sandbox.isolation import bubblewrap_problem
from deepgrade.settings import GraderSettings

ROOT = Path(__file__).resolve().parents[1]
LAB2_SOLUTION = ROOT / "solutions" / "lab2_activations" / "lab2_activations.py"
LAB2_SOLUTION_NB = ROOT / "solutions" / "lab2_activations" / "lab2_activations.ipynb"
LAB2_STUB = ROOT / "exercises" / "lab2_activations" / "lab2_activations.py"
LAB2_STUB_NB = ROOT / "exercises" / "lab2_activations" / "lab2_activations.ipynb"

# Limits short enough that hanging submissions stay quick, long enough for a loaded CI machine.
# Batches run on test hosts without bubblewrap too (tests/security/test_classes.py tests the
# refusal).
FAST = GraderSettings(
    exercise_timeout=10.0, cell_timeout=10.0, submission_timeout=300.0, allow_limits_only=True
)

Grader = Callable[..., LabResult]


def exercise(result: LabResult, exercise_id: str) -> ExerciseResult:
    return next(e for e in result.exercises if e.id == exercise_id)


def scores(result: LabResult) -> dict[str, float]:
    return {exercise.id: exercise.score for exercise in result.exercises}


def statuses(result: LabResult) -> dict[str, str]:
    return {exercise.id: exercise.status.value for exercise in result.exercises}


def patched(source: str, replacements: list[tuple[str, str]]) -> str:
    """Apply exact text replacements, failing loudly if one no longer matches."""
    for old, new in replacements:
        assert source.count(old) == 1, f"expected exactly one occurrence of {old!r}"
        source = source.replace(old, new)
    return source


class ToyCourse:
    """A course of one small lab written by a test: ``autograder/<folder>/`` under a tmp dir."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def lab(
        self,
        lab_toml: str,
        *,
        hidden: str | None = None,
        references: str | None = None,
        folder: str = "toy",
    ) -> Path:
        """Write the lab's files; its folder."""
        lab = self.root / "autograder" / folder
        lab.mkdir(parents=True, exist_ok=True)
        (lab / "lab.toml").write_text(lab_toml, encoding="utf-8")
        for name, text in (("hidden.toml", hidden), ("references.py", references)):
            if text is not None:
                (lab / name).write_text(text, encoding="utf-8")
        return lab

    def grade(self, source: str, name: str = "toy.py", **kwargs: Any) -> LabResult:
        """Grade ``source`` (a module named ``name``) against this course's labs."""
        path = self.root / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        settings = FAST.model_copy(update={"autograder_dir": self.root / "autograder"})
        kwargs.setdefault("device", "cpu")
        return grade_submission(path, settings=settings, **kwargs)


# -- the lab grade tests -------------------------------------------------------------------------
Test = TypeVar("Test", bound=Callable[..., None])

# 30 s limits, for labs whose checks take long: a busy machine must not cut a check short.
GENEROUS = FAST.model_copy(update={"exercise_timeout": 30.0, "cell_timeout": 30.0})


@dataclass(frozen=True)
class Bug:
    """A text replacement in the solution and what grading the exercise(s) it touches gives:
    their scores, their status (one for all of them, or one each) and words that each of their
    messages must contain."""

    replacements: list[tuple[str, str]]
    score: dict[str, float]
    status: str | dict[str, str]
    words: list[str] = field(default_factory=list)
    timeout: float | None = None  # a short exercise timeout, for runs that take too long

    @property
    def statuses(self) -> dict[str, str]:
        if isinstance(self.status, str):
            return dict.fromkeys(self.score, self.status)
        return self.status


def check_bug(result: LabResult, bug: Bug) -> None:
    """The exercises that ``bug`` touches have its scores and statuses, and its words."""
    got_scores, got_statuses = scores(result), statuses(result)
    messages = {exercise_id: exercise(result, exercise_id).message for exercise_id in bug.score}
    assert {k: got_scores[k] for k in bug.score} == bug.score, messages
    assert {k: got_statuses[k] for k in bug.score} == bug.statuses, messages
    for message in messages.values():
        for word in bug.words:
            assert word in message, f"{word!r} not in {message!r}"


def needs_cuda(test: Test) -> Test:
    """Mark ``test`` as a GPU test, skipped where there is no CUDA device."""
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    marked: Test = pytest.mark.gpu(skip(test))
    return marked


@dataclass(frozen=True)
class Lab:
    """A lab under test: its folder name (``solutions/<folder>/<folder>.py``, the stubs in
    ``exercises/``, the checks in ``autograder/``), its full marks per exercise, the points
    ``grade check`` awards in all, and the grader settings its tests use."""

    folder: str
    full: dict[str, float]
    points: float = 20.0
    settings: GraderSettings = FAST

    # -- files ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The file name a submission has."""
        return f"{self.folder}.py"

    @property
    def solution(self) -> Path:
        return ROOT / "solutions" / self.folder / self.name

    @property
    def solution_nb(self) -> Path:
        return self.solution.with_suffix(".ipynb")

    @property
    def stub(self) -> Path:
        return ROOT / "exercises" / self.folder / self.name

    @property
    def stub_nb(self) -> Path:
        return self.stub.with_suffix(".ipynb")

    @property
    def checks(self) -> Path:
        return ROOT / "autograder" / self.folder

    @property
    def each_solution(self) -> pytest.MarkDecorator:
        """Parametrise a test's ``path`` with the solution module and notebook."""
        return _module_and_notebook(self.solution, self.solution_nb)

    @property
    def each_stub(self) -> pytest.MarkDecorator:
        """Parametrise a test's ``path`` with the released stub module and notebook."""
        return _module_and_notebook(self.stub, self.stub_nb)

    # -- grading ----------------------------------------------------------------------------
    def grade_solution(self, path: Path) -> LabResult:
        """Grade ``path`` (the solution, or its notebook): every exercise passes with full
        marks."""
        result = grade_submission(path, settings=self.settings, device="cpu")
        assert scores(result) == self.full
        assert set(statuses(result).values()) == {"passed"}
        assert (result.score, result.max_score) == (self.points, self.points)
        return result

    def grade_solution_on_cuda(self) -> None:
        """Grade the solution on the GPU: the same full marks as on the CPU."""
        result = grade_submission(self.solution, settings=self.settings, device="cuda")
        assert scores(result) == self.full

    def grade_stub(self, path: Path, messages: dict[str, str]) -> None:
        """Grade ``path`` (a released stub): no points, every exercise not implemented, and
        each exercise of ``messages`` says what to implement."""
        result = grade_submission(path, settings=self.settings, device="cpu")
        assert (result.score, result.max_score) == (0.0, self.points)
        assert statuses(result) == dict.fromkeys(self.full, "not_implemented")
        for exercise_id, words in messages.items():
            assert words in exercise(result, exercise_id).message

    def planted(self, *bugs: Bug) -> str:
        """The solution's source with ``bugs`` planted."""
        source = self.solution.read_text(encoding="utf-8")
        return patched(source, [replacement for bug in bugs for replacement in bug.replacements])

    def grade_bug(self, bug: Bug, tmp_path: Path, *, whole_lab: bool = False) -> LabResult:
        """Grade the solution with ``bug`` planted and check what it loses (``check_bug``).

        The run grades the exercises that the bug touches only, to keep the suite fast, with
        the bug's timeout where it has one; with ``whole_lab`` it grades every exercise, and
        every other one must keep its full marks and pass.
        """
        path = tmp_path / self.name
        path.write_text(self.planted(bug), encoding="utf-8")
        touched = list(bug.score)
        if whole_lab:
            result = grade_submission(path, settings=self.settings, device="cpu")
        elif bug.timeout is None:
            result = grade_submission(path, settings=self.settings, device="cpu", exercises=touched)
        else:
            # The lab's own timeouts could make the test wait a minute: the same lab, shorter.
            lab = load_lab(self.checks)
            short = [e.model_copy(update={"timeout": bug.timeout}) for e in lab.exercises]
            lab = lab.model_copy(update={"exercises": short})
            result = grade_cells(load_submission(path), lab, touched, "cpu", self.settings)
        check_bug(result, bug)
        if whole_lab:
            assert scores(result) == self.full | bug.score
            others = [s for k, s in statuses(result).items() if k not in bug.score]
            assert all(status == "passed" for status in others)
        else:
            assert set(scores(result)) == set(bug.score)
        return result


def _module_and_notebook(module: Path, notebook: Path) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("path", [module, notebook], ids=["module", "notebook"])


# -- a small class of Lab 2 submissions ----------------------------------------------------------
NOTEBOOK = "lab2_activations.ipynb"
MODULE = "lab2_activations.py"
# One exercise keeps each real grading to a second or two.
ONLY = ("lab2.sigmoid",)
BUGGY = patched(
    LAB2_SOLUTION.read_text(encoding="utf-8"),
    [("return grad_output * y * (1 - y)", "return grad_output * y")],
)


def make_class(root: Path, *, stub: bool = True) -> Path:
    """alice: the solution notebook; bob: the stub (unless not ``stub``); carol: a zip with a
    bug; dan: a broken notebook."""
    (root / "alice").mkdir(parents=True)
    shutil.copy(LAB2_SOLUTION_NB, root / "alice" / NOTEBOOK)
    if stub:
        (root / "bob").mkdir()
        shutil.copy(LAB2_STUB, root / "bob" / MODULE)
    with zipfile.ZipFile(root / "carol.zip", "w") as archive:
        archive.writestr(f"carol_lab2/{MODULE}", BUGGY)
    (root / "dan").mkdir()
    (root / "dan" / NOTEBOOK).write_text('{"cells": [', encoding="utf-8")
    return root


# -- attacks (tests/adversarial: the tables cases*.toml and their files) -----------------------
ATTACKS_DIR = ROOT / "tests" / "adversarial"


HEAVISIDE = "lab2.heaviside"


# Short enough that the hanging attacks stay quick; cells get longer, for the flood at import.
SETTINGS = FAST.model_copy(
    update={"exercise_timeout": 3.0, "cell_timeout": 10.0, "include_hidden": False}
)


@dataclass(frozen=True)
class Attack:
    """One row of cases.toml."""

    name: str
    file: str = ""
    folder: str = ""
    archive: str = ""
    exercises: list[str] = field(default_factory=lambda: [HEAVISIDE])
    status: str | dict[str, str] = ""
    score: float | dict[str, float] = 0.0
    words: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    isolation: str = ""
    # The lab it is graded as (its file is named after the lab's folder) and whether hidden
    # checks run too.
    lab: str = "lab2"
    hidden: bool = False

    @property
    def statuses(self) -> dict[str, str]:
        if isinstance(self.status, str):
            return dict.fromkeys(self.exercises, self.status)
        return self.status

    @property
    def scores(self) -> dict[str, float]:
        if isinstance(self.score, float):
            return dict.fromkeys(self.exercises, self.score)
        return self.score

    def check(self, result: LabResult) -> None:
        """``result`` is exactly what this attack must get."""
        messages = {e.id: e.message for e in result.exercises}
        assert {e.id: e.status.value for e in result.exercises} == self.statuses, messages
        assert {e.id: e.score for e in result.exercises} == self.scores, messages
        said = " ".join([*messages.values(), *result.notes])
        for word in self.words:
            assert word in said, f"{word!r} not in {said!r}"


def attack_tables() -> list[Path]:
    """cases.toml and the topical tables beside it (cases_<topic>.toml)."""
    return sorted(ATTACKS_DIR.glob("cases*.toml"))


def _load_attacks() -> dict[str, Attack]:
    attacks: dict[str, Attack] = {}
    for table in attack_tables():
        for row in tomllib.loads(table.read_text(encoding="utf-8"))["attack"]:
            assert row["name"] not in attacks, f"{table.name}: {row['name']} twice"
            attacks[row["name"]] = Attack(**row)
    return attacks


# Lab ids to their folders' names: an attack's file is named as a student's would be.
LAB_FOLDERS = {
    tomllib.loads(path.read_text(encoding="utf-8"))["id"]: path.parent.name
    for path in (ROOT / "autograder").glob("*/lab.toml")
}


ATTACKS = _load_attacks()


CHECKED = sorted(name for name, attack in ATTACKS.items() if not attack.archive)


def needs_isolation(attack: Attack) -> None:
    if attack.isolation == "bubblewrap" and bubblewrap_problem() is not None:
        pytest.skip(f"the defence is bubblewrap's, unavailable here: {bubblewrap_problem()}")


def attack_settings(attack: Attack) -> Any:
    update: dict[str, Any] = {"include_hidden": attack.hidden}
    if attack.isolation == "bubblewrap":
        update["isolation"] = "bubblewrap"
    return SETTINGS.model_copy(update=update)


def new_marker() -> str:
    """A process name for one test's attacks (at most 15 characters, as Linux keeps)."""
    return f"dgadv-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Fill:
    """What the placeholders of attack files become: the repository, the port of a server
    the test runs, the name that processes an attack starts give themselves, and the root of
    an exported autograder's layout (Gradescope's /autograder)."""

    port: int = 9
    marker: str = field(default_factory=new_marker)
    autograder: Path = Path("/autograder")

    def text(self, source: Path) -> bytes:
        return (
            source.read_bytes()
            .replace(b"@ROOT@", str(ROOT).encode())
            .replace(b"@AUTOGRADER@", str(self.autograder).encode())
            .replace(b"@PORT@", str(self.port).encode())
            .replace(b"@MARKER@", self.marker.encode())
        )


def place(attack: Attack, folder: Path, fill: Fill) -> Path:
    """Write the attack's files into ``folder`` as a Lab 2 submission; the file to grade."""
    folder.mkdir(parents=True, exist_ok=True)
    if attack.folder:
        # Nested folders too: an attack may ship a whole autograder/ folder.
        source = ATTACKS_DIR / attack.folder
        for item in sorted(source.rglob("*")):
            target = folder / item.relative_to(source)
            if item.is_dir():
                target.mkdir(exist_ok=True)
            else:
                target.write_bytes(fill.text(item))
        return folder / attack.file
    source = ATTACKS_DIR / attack.file
    target = folder / f"{LAB_FOLDERS[attack.lab]}{source.suffix}"
    target.write_bytes(fill.text(source))
    return target


def build_archive(kind: str, path: Path) -> Path:
    """The zip archive of an ``archive`` attack, made here: its dangers are not kept in the repo."""
    solution = LAB2_SOLUTION.read_text(encoding="utf-8")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if kind == "traversal":
            archive.writestr("lab2_activations.py", solution)
            archive.writestr("../escaped.py", "import os\nos._exit(0)\n")
        elif kind == "symlink":
            link = zipfile.ZipInfo("lab2_activations.py")
            link.external_attr = (0o120777 << 16) | 0x20
            archive.writestr(link, str(ROOT / "solutions/lab2_activations/lab2_activations.py"))
        elif kind == "bomb":
            # 101 MiB of zeros, compressed to about 100 kB.
            with archive.open("lab2_activations.py", "w", force_zip64=True) as member:
                zeros = b"\0" * (1 << 20)
                for _ in range(101):
                    member.write(zeros)
        elif kind == "shadow_torch":
            for item in (ATTACKS_DIR / "shadow_torch").iterdir():
                archive.write(item, f"work/{item.name}")
        else:
            raise ValueError(kind)
    return path


def leftovers(marker: str) -> list[str]:
    """Live processes that an attack started (they name themselves ``marker``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, state = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2]
        if name == marker and state not in "ZX":
            found.append(f"{stat.parent.name} {name}")
    return found


def assert_no_leftovers(marker: str) -> None:
    deadline = time.monotonic() + 5.0
    while leftovers(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(marker) == []


# A known mistake: heaviside(0) = 0. Forward at 0 fails; random inputs and backward pass.
STRICT_STEP = [("        return (x >= 0).to(x.dtype)", "        return (x > 0).to(x.dtype)")]


# -- the student package -------------------------------------------------------------------------
# Modules that the staff extra brings, made unimportable by STAFF_BLOCKER (and jupytext's and
# nbgrader's own dependencies that only Jupyter needs). jinja2 is not among them: PyTorch requires
# it, so every installation has it.
STAFF_ONLY = ("nbgrader", "nbformat", "jupytext", "dask", "distributed", "matplotlib", "traitlets")
# Python code that makes STAFF_ONLY unimportable, run before anything else in a subprocess.
STAFF_BLOCKER = f"""
import sys
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {STAFF_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Blocker())
"""


def core_distributions() -> list[str]:
    """The distributions that ``pip install deepgrade`` installs: its requirements without
    extras, and theirs, recursively, as this environment resolved them (deepgrade excluded)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [("deepgrade", frozenset[str]())]
    while pending:
        name, extras = pending.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        for text in distribution(name).requires or []:
            requirement = Requirement(text)
            wanted = {"extra": ""}, *({"extra": extra} for extra in extras)
            if requirement.marker and not any(requirement.marker.evaluate(e) for e in wanted):
                continue
            key = canonicalize_name(requirement.name)
            try:
                distribution(requirement.name)
            except PackageNotFoundError:
                continue  # a requirement of another platform or Python (and its marker said so)
            found[key] = requirement.name
            pending.append((requirement.name, frozenset(requirement.extras)))
    found.pop("deepgrade", None)
    return sorted(found.values())


def student_venv(tmp_path: Path) -> Path:
    """A virtual environment that holds the student package and nothing else: its python.

    Offline: the core distributions of this environment are shown to it through a folder of
    symbolic links named in a ``.pth`` file, and deepgrade is a copy of its package folder (not
    the repository, as an editable install would be), with its metadata and a ``grade`` script.
    The links lead out of the environment, so workers must run with ``DEEPGRADE_ISOLATION=limits``
    (bubblewrap shows them the environment's own folders only).
    """
    import sys
    import venv
    from importlib.metadata import distribution

    import deepgrade

    root = tmp_path / "student-venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    python = root / "bin" / "python"
    site = (
        root / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    )
    assert site.is_dir(), site
    linked = root / "core-distributions"
    linked.mkdir()
    for name in core_distributions():
        dist = distribution(name)
        tops = {Path(file).parts[0] for file in dist.files or []}
        for top in sorted(tops - {"..", "__pycache__"}):
            link = linked / top
            if not link.exists():
                link.symlink_to(Path(str(dist.locate_file(top))).resolve())
    (site / "core-distributions.pth").write_text(f"{linked}\n", encoding="utf-8")
    package = Path(deepgrade.__file__).parent
    shutil.copytree(package, site / "deepgrade", ignore=shutil.ignore_patterns("__pycache__"))
    metadata = site / f"deepgrade-{deepgrade.__version__}.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text(distribution("deepgrade").read_text("METADATA") or "")
    grade = root / "bin" / "grade"
    grade.write_text(f"#!{python}\nfrom deepgrade.cli import main\n\nmain()\n", encoding="utf-8")
    grade.chmod(0o755)
    return python


# -- grade similarity: a student's own code, and a disguised copy of it --------------------------
SOLUTION = LAB2_SOLUTION.read_text(encoding="utf-8")
# A student's own softmax and PReLU (correct, and unlike the solution's code).
OWN = [
    (
        "        e = torch.exp(x - x.amax(dim=dim, keepdim=True))\n"
        "        y = e / e.sum(dim=dim, keepdim=True)\n",
        "        # shift by the largest logit first\n"
        "        biggest = x.max(dim=dim, keepdim=True).values\n"
        "        tops = (x - biggest).exp()\n"
        "        total = tops.sum(dim=dim, keepdim=True)\n"
        "        y = tops / total\n",
    ),
    (
        "        inner = (grad_output * y).sum(dim=ctx.dim, keepdim=True)\n"
        "        return y * (grad_output - inner), None\n",
        "        weighted = grad_output * y\n"
        "        total = weighted.sum(dim=ctx.dim, keepdim=True)\n"
        "        result = weighted - y * total\n"
        "        return result, None\n",
    ),
    (
        "        positive = x > 0\n"
        "        grad_x = torch.where(positive, grad_output, a_b * grad_output)\n",
        "        above = x > 0\n"
        "        ones = torch.ones_like(x)\n"
        "        grad_x = grad_output * torch.where(above, ones, a_b)\n"
        "        positive = above\n",
    ),
]
OWN_CODE = patched(SOLUTION, OWN)
# The same code renamed, commented and docstrings changed.
RENAMES = {"biggest": "m", "tops": "ez", "total": "tot", "weighted": "gy", "result": "res"}
RENAMED = re.sub(
    rf"(?<![.\w])({'|'.join(RENAMES)})\b",
    lambda match: RENAMES[match.group(1)],
    patched(
        OWN_CODE,
        [
            (
                "        # shift by the largest logit first\n",
                "        # subtract the max (stability)\n",
            ),
            ('"""Softmax along one dimension."""', '"""My softmax."""'),
        ],
    ),
)
