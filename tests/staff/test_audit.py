"""grade audit: mutants of a solution's regions, graded by the lab's checks; a weaker check
kills fewer of them; equivalent mutants are the lab's data; the reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from deepgrade.cli import main
from deepgrade.errors import UsageError
from deepgrade.model.records import RecordStatus, SubmissionRecord
from deepgrade.model.results import ExerciseResult, LabResult, Status
from deepgrade.staff.audit import AuditReport, Outcome, run_audit
from deepgrade.staff.audit.mutants import OPERATORS, generate, sample
from deepgrade.staff.audit.report import HTML_FILE, JSON_FILE, audit_html, render_audit
from deepgrade.staff.audit.runner import AUDIT_FILE, check_baseline, load_equivalents
from tests.helpers import FAST, ToyCourse

SOLUTION = '''import torch


def hinge(x: torch.Tensor) -> torch.Tensor:
    """max(0, 1 - x), elementwise."""
    ### BEGIN SOLUTION
    return (1 - x).clamp(min=0)
    ### END SOLUTION


def given(x):
    return x + 1 - 2 * x
'''

LAB = """
id = "toy"
title = "Toy"
notebook = "toy.ipynb"
module = "toy.py"

[[exercises]]
id = "toy.hinge"
points = 1.0
requires = ["hinge"]

[[exercises.checks]]
kind = "reference"
name = "hinge"
call = "hinge"
reference = "lab:hinge"
{inputs}
"""
REFERENCES = """
def hinge(x):
    return (1 - x).clamp(min=0)
"""
# Random inputs of both signs, with gradients: every mutant of hinge fails.
STRONG = 'args = [{ gen = "randn", shape = [4, 5], scale = 3.0 }]\nseed = 1\nbackward = true'
# Only inputs past the kink, outputs only: 1 -> 0 and 1 -> 2 and a detached result pass.
WEAK = 'args = [{ gen = "values", values = [3.0, 4.0] }]'
OWNERS = {"hinge": "toy.hinge"}
STALE = "toy.hinge/sign-00000000"


def _course(root: Path, inputs: str, equivalents: str = "") -> ToyCourse:
    course = ToyCourse(root)
    lab = course.lab(LAB.format(inputs=inputs), references=REFERENCES)
    if equivalents:
        (lab / AUDIT_FILE).write_text(equivalents, encoding="utf-8")
    solution = root / "solutions" / "toy" / "toy.py"
    solution.parent.mkdir(parents=True)
    solution.write_text(SOLUTION, encoding="utf-8")
    return course


def _audit(course: ToyCourse) -> AuditReport:
    settings = FAST.model_copy(update={"autograder_dir": course.root / "autograder"})
    return run_audit("toy", jobs=2, settings=settings)


def _detach_id() -> str:
    return next(m.id for m in generate(SOLUTION, OWNERS) if m.operator == "detach")


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditReport, AuditReport, Path]:
    """The toy lab audited with its strong check (the API), then with the weak one (the
    command, with --json and --out), whose audit.toml marks the detached result equivalent
    (and a mutant that does not exist); the weak audit's --out folder."""
    strong = _course(tmp_path_factory.mktemp("strong"), STRONG)
    marks = (
        f'[[equivalent]]\nmutant = "{_detach_id()}"\nreason = "only outputs are graded"\n'
        f'[[equivalent]]\nmutant = "{STALE}"\nreason = "gone"\n'
    )
    weak = _course(tmp_path_factory.mktemp("weak"), WEAK, marks)
    out = weak.root / "out"
    env = {
        "DEEPGRADE_AUTOGRADER_DIR": str(weak.root / "autograder"),
        "DEEPGRADE_EXERCISE_TIMEOUT": str(FAST.exercise_timeout),
        "DEEPGRADE_ALLOW_LIMITS_ONLY": "1",
    }
    command = ["audit", "toy", "--jobs", "2", "--json", "--out", str(out), "--fail-under", "95"]
    run = CliRunner().invoke(main, command, env=env)
    assert run.exit_code == 1, run.output  # an exercise under 95 %
    return _audit(strong), AuditReport.model_validate_json(run.stdout), out


# -- mutants (no grading) ------------------------------------------------------------------------
def test_only_solution_regions_are_mutated_deterministically() -> None:
    mutants = generate(SOLUTION, OWNERS)
    assert {m.line for m in mutants} == {7}  # the region's one line; given() is left alone
    assert {m.function for m in mutants} == {"hinge"}
    assert {m.operator for m in mutants} == {
        "arith",
        "sign",
        "off_by_one",
        "drop_term",
        "clamp",
        "detach",
    }
    assert len({m.source for m in mutants}) == len(mutants)
    assert [m.id for m in generate(SOLUTION, OWNERS)] == [m.id for m in mutants]
    clamp = next(m for m in mutants if m.operator == "clamp")
    assert (clamp.original, clamp.replacement) == ("(1 - x).clamp(min=0)", "(1 - x)")
    assert "return (1 - x)\n" in clamp.source
    # A name no exercise owns is not mutated.
    assert generate(SOLUTION, {}) == []


def test_the_sample_is_seeded_and_operators_chosen() -> None:
    every = generate(SOLUTION, OWNERS)
    first = sample(every, 3, seed=7)
    assert len(first) == 3 and set(first) < set(every)
    assert first == sample(every, 3, seed=7)
    assert sample(every, 10) == every
    only = generate(SOLUTION, OWNERS, operators=["off_by_one"])
    assert [m.replacement for m in only] == ["2", "0", "1", "(-1)"]


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_operator_changes_code_of_its_kind(name: str) -> None:
    source = """
def f(x, y, opt, xs):
    ### BEGIN SOLUTION
    opt.zero_grad()
    s = x.sum(dim=1, keepdim=True)
    s = s + 0.5 * y
    m = torch.clamp(x - x.max(), min=-1e4)
    if x.shape[0] >= 2 and y > 0:
        raise ValueError(f"at most {x.shape[0] - 1} rows")
        return -torch.matmul(x, y.clone())
    return s ** 2
    ### END SOLUTION
"""
    mutants = generate(source, {"f": "lab.f"}, operators=[name])
    assert mutants, name
    for mutant in mutants:
        compile(mutant.source, "mutant", "exec")
        assert "rows" not in mutant.replacement  # no mutant of an f-string: a message's text


def test_no_detach_where_autograd_builds_no_graph() -> None:
    source = """
class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        return x * x
        ### END SOLUTION
"""
    mutants = generate(source, {"Square": "lab.square"})
    assert mutants and "detach" not in {m.operator for m in mutants}


def test_equivalents_are_data_and_checked(tmp_path: Path) -> None:
    assert load_equivalents(tmp_path) == []
    (tmp_path / AUDIT_FILE).write_text('[[equivalent]]\nmutant = "a/b"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="not a valid audit file"):
        load_equivalents(tmp_path)


# -- the audit, graded -----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_weakened_check_lowers_the_kill_rate(
    audits: tuple[AuditReport, AuditReport, Path],
) -> None:
    strong, weak, _ = audits
    (hinge,) = strong.exercises
    assert (hinge.survived, hinge.errors, hinge.equivalent) == (0, 0, 0)
    assert hinge.killed == len(hinge.mutants) == 10
    assert strong.kill_rate == 1.0
    (weak_hinge,) = weak.exercises
    survivors = {m.replacement for m in weak_hinge.mutants if m.outcome is Outcome.SURVIVED}
    assert survivors == {"2", "0"}
    assert weak_hinge.kill_rate == pytest.approx(7 / 9, abs=1e-4)
    assert weak.kill_rate is not None and weak.kill_rate < strong.kill_rate
    assert weak.below(95.0) == [weak_hinge] and strong.below(95.0) == []


@pytest.mark.slow
def test_equivalents_and_survivors_are_reported(
    audits: tuple[AuditReport, AuditReport, Path],
) -> None:
    _, weak, out = audits
    (hinge,) = weak.exercises
    (equivalent,) = [m for m in hinge.mutants if m.outcome is Outcome.EQUIVALENT]
    assert (equivalent.id, equivalent.detail) == (_detach_id(), "only outputs are graded")
    assert weak.stale_equivalents == [STALE]
    killed = next(m for m in hinge.mutants if m.outcome is Outcome.KILLED)
    assert killed.detail.startswith("failed, 0 / 1")
    console = Console(record=True, width=200)
    render_audit(weak, console)
    text = console.export_text()
    assert "toy.hinge" in text and "77.8 %" in text and "survived toy.hinge/off_by_one-" in text
    assert AuditReport.model_validate_json((out / JSON_FILE).read_text(encoding="utf-8")) == weak
    page = (out / HTML_FILE).read_text(encoding="utf-8")
    assert page == audit_html(weak)
    assert "-    return (1 - x).clamp(min=0)" in page and "+    return (2 - x).clamp(min=0)" in page


def test_cli_says_a_usage_error_before_grading() -> None:
    run = CliRunner().invoke(main, ["audit", "lab2", "--exercise", "lab2.nothing"])
    assert run.exit_code == 2, run.output
    assert "Error:" in run.output
    run = CliRunner().invoke(main, ["audit", "lab2", "--operator", "nonsense", "--jobs", "1"])
    assert run.exit_code == 2 and "unknown mutation operators" in run.output


def test_a_solution_that_fails_its_checks_stops_the_audit() -> None:
    wrong = ExerciseResult(
        id="toy.hinge", status=Status.FAILED, score=0.5, max_score=1.0, message="off\nmore"
    )
    record = SubmissionRecord(
        student="solution",
        lab="toy",
        source="toy.py",
        content_hash="",
        checks_version="",
        status=RecordStatus.GRADED,
        result=LabResult(lab="toy", exercises=[wrong]),
        max_score=1.0,
    )
    with pytest.raises(UsageError, match=r"does not pass toy.hinge \(failed: off\)"):
        check_baseline(record, ("toy.hinge",))
    check_baseline(record, ("toy.other",))  # an exercise left out of the audit is no matter
