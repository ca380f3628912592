"""Grading a lab's mutants with the lab's own checks, in parallel, and what became of each.

Every mutant is graded as a submission of the lab, by the exercise that owns the code it
changes, with the public and hidden checks, in the same local grader processes and sandbox as
``grade batch`` (:class:`deepgrade.staff.executors.LocalPool`). A mutant is killed when its
exercise loses points, survives when it keeps full marks, and is equivalent when it survives and
the lab's ``audit.toml`` says why no check can tell it from the solution.
"""

from __future__ import annotations

import difflib
import tempfile
import time
import tomllib
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from deepgrade.engine.grading import resolve_device
from deepgrade.engine.validation import validate_request
from deepgrade.errors import UsageError
from deepgrade.model.records import RecordStatus, SubmissionRecord, checks_version
from deepgrade.model.results import IsolationLevel, Status
from deepgrade.sandbox.isolation import isolation_level
from deepgrade.settings import GraderSettings
from deepgrade.staff.audit.mutants import OPERATORS, Mutant, generate, sample
from deepgrade.staff.authoring import default_solution, owners
from deepgrade.staff.batch import BatchOptions, BatchProgress
from deepgrade.staff.executors import GradingConfig, GradingTask, LocalPool
from deepgrade.staff.submissions import FoundSubmission, SourceKind

AUDIT_FILE = "audit.toml"
DEFAULT_MAX_MUTANTS = 40
_BASELINE = "solution"


class Outcome(StrEnum):
    KILLED = "killed"
    SURVIVED = "survived"
    EQUIVALENT = "equivalent"  # survived, and the lab's audit.toml says why that is right
    ERROR = "error"  # the grader failed on it: neither killed nor survived


class Equivalent(BaseModel):
    """A surviving mutant that the lab's author marked equivalent to the solution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mutant: str = Field(description="The mutant's id, as the audit reports it.")
    reason: str = Field(min_length=1, description="Why no check can tell it from the solution.")


class _AuditFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    equivalent: list[Equivalent] = Field(default_factory=list)


class MutantResult(BaseModel):
    id: str
    operator: str
    line: int
    function: str
    description: str
    original: str
    replacement: str
    outcome: Outcome
    detail: str = Field("", description="How it was killed, why it is equivalent, or the error.")
    diff: str


class ExerciseAudit(BaseModel):
    id: str
    mutants: list[MutantResult] = Field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(m.outcome is outcome for m in self.mutants)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def killed(self) -> int:
        return self.count(Outcome.KILLED)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def survived(self) -> int:
        return self.count(Outcome.SURVIVED)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def equivalent(self) -> int:
        return self.count(Outcome.EQUIVALENT)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def errors(self) -> int:
        return self.count(Outcome.ERROR)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kill_rate(self) -> float | None:
        """Killed among the mutants that could be killed (equivalent ones and errors aside)."""
        return _rate(self.killed, self.killed + self.survived)


class AuditReport(BaseModel):
    lab: str
    solution: str
    seed: int
    max_mutants: int | None
    jobs: int
    isolation: IsolationLevel
    duration_s: float
    exercises: list[ExerciseAudit]
    stale_equivalents: list[str] = Field(
        default_factory=list,
        description="Mutants marked equivalent in audit.toml that this audit killed or no "
        "longer makes: the marks to remove.",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kill_rate(self) -> float | None:
        killed = sum(e.killed for e in self.exercises)
        return _rate(killed, killed + sum(e.survived for e in self.exercises))

    def below(self, percent: float) -> list[ExerciseAudit]:
        """The exercises whose kill rate is under ``percent``."""
        return [
            e for e in self.exercises if e.kill_rate is not None and e.kill_rate * 100 < percent
        ]


def _rate(killed: int, total: int) -> float | None:
    return round(killed / total, 4) if total else None


def run_audit(
    lab: str,
    *,
    exercises: tuple[str, ...] = (),
    jobs: int | None = None,
    max_mutants: int | None = DEFAULT_MAX_MUTANTS,
    seed: int = 0,
    operators: list[str] | None = None,
    solution: Path | None = None,
    device: str = "cpu",
    settings: GraderSettings | None = None,
    progress: BatchProgress | None = None,
) -> AuditReport:
    """Mutate ``lab``'s reference solution and grade each mutant with the lab's checks.

    ``exercises`` limits the audit to those exercises; ``max_mutants`` keeps at most that many
    mutants per exercise (a sample drawn with ``seed``; ``None`` for all); ``operators`` names
    the mutation operators to use (all by default); ``solution`` is the reference solution
    (``solutions/<folder>/<folder>.py`` beside the lab's ``autograder/`` by default);
    ``jobs`` mutants are graded at once (default: the cores).
    """
    started = time.monotonic()
    settings = settings or GraderSettings()
    workers = BatchOptions(jobs=jobs).workers  # the cores by default, as grade batch
    if workers < 1:
        raise UsageError(f"--jobs must be at least 1, not {workers}")
    unknown = sorted(set(operators or ()) - set(OPERATORS))
    if unknown:
        raise UsageError(f"unknown mutation operators {unknown}; known: {sorted(OPERATORS)}")
    request = validate_request(lab, exercises, settings=settings)
    resolve_device(device)
    spec = request.load_lab()
    solution = solution or default_solution(spec)
    if not solution.is_file():
        raise UsageError(f"no reference solution at {solution}; give it with --solution")
    source = solution.read_text(encoding="utf-8")
    chosen = request.exercises or tuple(e.id for e in spec.exercises if e.requires)
    every = [m for m in generate(source, owners(spec), operators=operators) if m.exercise in chosen]
    mutants = every if max_mutants is None else sample(every, max_mutants, seed)
    equivalents = {e.mutant: e.reason for e in load_equivalents(spec.folder)}
    # The solution's own code is the staff's: no student's work to protect from it.
    isolation = isolation_level(settings.isolation)
    config = GradingConfig(
        lab_id=spec.id,
        lab_folder=spec.folder,
        version=checks_version(spec),
        max_score=sum(spec.exercise(e).points for e in chosen),
        exercises=chosen,
        device=device,
        settings=settings.model_copy(update={"isolation": isolation.setting}),
        isolation=isolation,
    )
    records: dict[str, SubmissionRecord] = {}

    def arrived(record: SubmissionRecord) -> None:
        records[record.student] = record
        if progress is not None:
            progress.advance(record)

    with tempfile.TemporaryDirectory(prefix="deepgrade-audit-") as tmp:
        name = f"{spec.folder.name}.py"
        tasks = [_task(Path(tmp), _BASELINE, source, name, ())]
        tasks += [
            _task(Path(tmp), str(i), m.source, name, (m.exercise,)) for i, m in enumerate(mutants)
        ]
        if progress is not None:
            progress.start(len(tasks))
        LocalPool(workers).grade(tasks, config, arrived)
    check_baseline(records[_BASELINE], chosen)
    audits = {e: ExerciseAudit(id=e) for e in chosen}
    for index, mutant in enumerate(mutants):
        audits[mutant.exercise].mutants.append(
            _result(mutant, records[str(index)], equivalents, source, name)
        )
    # A mark is stale when its mutant is no longer made, or was graded and killed; one left out
    # of this audit's sample says nothing.
    made = {m.id for m in every}
    killed = {m.id for a in audits.values() for m in a.mutants if m.outcome is Outcome.KILLED}
    stale = sorted(
        e for e in equivalents if e.partition("/")[0] in chosen and (e not in made or e in killed)
    )
    return AuditReport(
        lab=spec.id,
        solution=str(solution),
        seed=seed,
        max_mutants=max_mutants,
        jobs=workers,
        isolation=isolation,
        duration_s=round(time.monotonic() - started, 1),
        exercises=list(audits.values()),
        stale_equivalents=stale,
    )


def load_equivalents(folder: Path) -> list[Equivalent]:
    """The mutants marked equivalent in the lab's ``audit.toml`` (none without one)."""
    path = folder / AUDIT_FILE
    if not path.is_file():
        return []
    try:
        return _AuditFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8"))).equivalent
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise UsageError(f"{path} is not a valid audit file: {exc}") from None


def _task(root: Path, key: str, source: str, name: str, exercises: tuple[str, ...]) -> GradingTask:
    path = root / key / name
    path.parent.mkdir()
    path.write_text(source, encoding="utf-8")
    found = FoundSubmission(key, SourceKind.FILE, (path,))
    return GradingTask(found, found.content_hash(), exercises)


def check_baseline(record: SubmissionRecord, chosen: tuple[str, ...]) -> None:
    """Mutants say something only about checks that the solution itself passes."""
    result = record.result
    if record.status is not RecordStatus.GRADED or result is None:
        raise UsageError(f"the reference solution could not be graded: {record.error}")
    failing = [
        f"{e.id} ({e.status.value}: {e.message.splitlines()[0] if e.message else ''})"
        for e in result.exercises
        if e.id in chosen and (e.status is not Status.PASSED or e.score < e.max_score)
    ]
    if failing:
        raise UsageError(f"the reference solution does not pass {', '.join(failing)}")


def _result(
    mutant: Mutant,
    record: SubmissionRecord,
    equivalents: dict[str, str],
    source: str,
    name: str,
) -> MutantResult:
    outcome, detail = _outcome(mutant, record)
    if outcome is Outcome.SURVIVED and mutant.id in equivalents:
        outcome, detail = Outcome.EQUIVALENT, equivalents[mutant.id]
    diff = "".join(
        difflib.unified_diff(
            source.splitlines(keepends=True),
            mutant.source.splitlines(keepends=True),
            f"a/{name}",
            f"b/{name}",
            n=2,
        )
    )
    return MutantResult(
        id=mutant.id,
        operator=mutant.operator,
        line=mutant.line,
        function=mutant.function,
        description=mutant.description,
        original=mutant.original,
        replacement=mutant.replacement,
        outcome=outcome,
        detail=detail,
        diff=diff,
    )


def _outcome(mutant: Mutant, record: SubmissionRecord) -> tuple[Outcome, str]:
    result = record.result
    if record.status is not RecordStatus.GRADED or result is None:
        return Outcome.ERROR, record.error
    graded = next(e for e in result.exercises if e.id == mutant.exercise)
    if graded.status is Status.GRADER_ERROR:
        return Outcome.ERROR, graded.message
    if graded.status is Status.PASSED and graded.score >= graded.max_score:
        return Outcome.SURVIVED, ""
    first = graded.message.splitlines()[0] if graded.message else ""
    return Outcome.KILLED, f"{graded.status.value}, {graded.points_label}: {first}"[:300]
