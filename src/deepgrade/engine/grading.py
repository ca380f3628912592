"""Grading one submission against one lab: the session behind every check's calls."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from loguru import logger

from deepgrade.engine.checks import (
    CallResult,
    CheckSpec,
    StudentFailure,
    StudentForbidden,
    StudentNotImplemented,
    StudentRaised,
    StudentTimeout,
)
from deepgrade.engine.checks.base import runnable
from deepgrade.engine.checks.context import Harness, StudentWrongGradient
from deepgrade.engine.devices import gpu_lock

# Re-exported: the device is resolved before a batch starts its graders.
from deepgrade.engine.devices import resolve_device as resolve_device
from deepgrade.engine.forbidden import reported_tampering, scan, tampering
from deepgrade.engine.gradients import explain_gradient_mismatch
from deepgrade.engine.loader import Cell, Submission
from deepgrade.engine.locations import located, reported, unlocated
from deepgrade.engine.recording import Recordings, resolve_reference
from deepgrade.engine.released_judges import released_judges
from deepgrade.engine.sweeps import sweep
from deepgrade.engine.validation import validate_request
from deepgrade.errors import GraderError
from deepgrade.model.results import (
    CheckResult,
    ExerciseResult,
    LabResult,
    Status,
    Sweep,
    score_exercise,
    zero_result,
)
from deepgrade.model.spec import ExerciseSpec, LabSpec
from deepgrade.sandbox import wire
from deepgrade.sandbox.isolation import isolation_level
from deepgrade.sandbox.process import (
    WorkerDied,
    WorkerFailure,
    WorkerOverLimit,
    WorkerProcess,
    WorkerProtocolError,
    WorkerTimeout,
)
from deepgrade.sandbox.replies import check_driven
from deepgrade.sandbox.worker.drivers import Driver
from deepgrade.sandbox.worker.equivalents import expand
from deepgrade.settings import GraderSettings

_T = TypeVar("_T")


class Session:
    """A worker loaded with one submission, and the :class:`CheckContext` checks call into."""

    def __init__(
        self, submission: Submission, lab: LabSpec, settings: GraderSettings, device: torch.device
    ) -> None:
        self.submission = submission
        self.lab = lab
        self.settings = settings
        self._device = device
        self._judges = released_judges(lab, settings)
        self._references = lab.references() or self._judges
        self._recordings = Recordings.load(lab.folder)
        self._worker: WorkerProcess | None = None
        self._skipped: set[int] = set()
        self.cell_errors: dict[int, str] = {}
        self.notes: list[str] = []
        self.names: dict[str, str] = {}
        self.lookup_error: str | None = None
        self._tampered = tampering(submission.cells)
        # Tampering the worker's detector reported: every exercise from then on is forbidden.
        self._tampered_at_run: str | None = None
        # CPU seconds the current exercise's code may still use (its processes' own: a
        # classmate's hogging the machine costs it nothing), and the wall-clock seconds that
        # stop code that sleeps. Only time spent waiting on the worker counts, so the grader's
        # own work (inputs, references) never eats into either.
        self._budget = 0.0
        self._wall_budget = 0.0
        self._submission_deadline = time.monotonic() + settings.submission_timeout
        self._exercise: ExerciseSpec | None = None
        self._output: list[str] = []
        # Set once the public checks are done: the worker then runs hidden checks only.
        self._hidden_phase = False

    # -- CheckContext -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self._device

    def resolve(self, reference: str) -> Any:
        return resolve_reference(self._references, self.lab, reference)

    def run_reference(self, reference: str, harness: Harness, payload: Any) -> Any:
        # A student release has recorded results in place of the reference code.
        if self._recordings is not None and reference.startswith("lab:"):
            return self._recordings.replay(reference, harness, payload)
        return harness(self.resolve(reference), payload)

    def call(
        self,
        target: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any] | None = None,
        *,
        grad_of: Sequence[int] = (),
        grad_output: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
        return_args: bool = False,
        collect: bool = False,
        detached_ok: bool = False,
    ) -> CallResult:
        tensors: list[torch.Tensor] = []
        header = {
            "op": "call",
            "target": target,
            "args": [wire.encode(a, tensors) for a in args],
            "kwargs": {k: wire.encode(v, tensors) for k, v in (kwargs or {}).items()},
            "grad_of": list(grad_of),
            "grad_output": wire.encode(grad_output, tensors),
            "return_args": return_args,
            "collect": collect,
            "detached_ok": detached_ok,
        }
        reply, out = self._request(target, header, tensors)
        value, grads = self._decoded(
            target,
            lambda: (
                wire.decode(reply.get("value"), out),
                [wire.decode(g, out) for g in reply.get("grads", [])],
            ),
        )
        return CallResult(
            value=value,
            grads=grads,
            value_device=wire.device_of(reply.get("value")),
            grad_devices=[wire.device_of(g) for g in reply.get("grads", [])],
        )

    def drive(self, driver: Driver, target: str, payload: Mapping[str, Any]) -> Any:
        tensors: list[torch.Tensor] = []
        header = {
            "op": "drive",
            "driver": driver.__name__,
            "target": target,
            "payload": wire.encode(dict(payload), tensors),
        }
        reply, out = self._request(target, header, tensors)
        return self._decoded(
            target, lambda: check_driven(driver, wire.decode(reply.get("value"), out))
        )

    def _decoded(self, target: str, decode: Callable[[], _T]) -> _T:
        """``decode()`` of a reply about ``target``: one that breaks the protocol ends its
        worker, as one the sandbox refuses does, and is the student's error."""
        try:
            return decode()
        except wire.WireError as exc:
            self.close()
            raise _unreadable(target, exc) from None

    def _request(
        self, target: str, header: dict[str, Any], tensors: list[torch.Tensor]
    ) -> tuple[dict[str, Any], list[torch.Tensor]]:
        """Send one request about ``target``; a failure of the student's code raises."""
        wall = min(self._wall_budget, self._submission_deadline - time.monotonic())
        remaining = min(self._budget, wall)
        if remaining <= 0:
            # Said before a worker is restarted: a hanging exercise costs one restart, not one
            # per remaining check.
            limit = self._exercise_timeout()
            raise StudentTimeout(f"the {limit:g} s of this exercise were used up before this check")
        worker = self._ensure_worker()
        header |= {
            "device": str(self._device),
            "forbidden": _forbidden_on_wire(
                tuple(self._exercise.forbidden) if self._exercise else ()
            ),
        }
        sent = time.monotonic()
        try:
            reply, out = worker.request(header, tensors, remaining, wall)
        except WorkerTimeout:
            limit = self._exercise_timeout()
            raise StudentTimeout(f"{target} did not finish within the {limit:g} s limit") from None
        except WorkerProtocolError as invalid:
            raise StudentRaised(
                "InvalidResult", f"{target} sent back an invalid result: {invalid}"
            ) from None
        except WorkerDied as died:
            # What a worker printed during hidden checks is never shown.
            printed = "" if self._hidden_phase else worker.raw_output()[-300:]
            message = _death_message(target, died) + (f"; it printed: {printed}" if printed else "")
            raise StudentRaised("ProcessExit", message) from None
        finally:
            self._budget -= worker.cpu_used
            self._wall_budget -= time.monotonic() - sent
        if reply.get("output"):
            self._output.append(str(reply["output"]))
        self._tampered_at_run = self._tampered_at_run or reported_tampering(reply)
        if self._tampered_at_run:
            raise StudentForbidden(self._tampering_message())
        used = reply.get("forbidden_used") or []
        if used:
            names = ", ".join(reported(self.submission, str(name)[:300]) for name in used[:3])
            reason = self._exercise.forbidden_reason if self._exercise else None
            raise StudentForbidden(f"{target} called {names}: {reason or _WRITE_IT_YOURSELF}")
        if not reply.get("ok"):
            error = reply.get("error") or {}
            if error.get("type") == "GradientMismatch":
                raise StudentWrongGradient(explain_gradient_mismatch(str(error.get("message"))))
            traceback = str(error.get("traceback", ""))
            if error.get("type") == "NotImplementedError":
                # The stub's own raise: where it is says nothing the student does not know.
                raise StudentNotImplemented("NotImplementedError", str(error.get("message", "")))
            raise StudentRaised(
                str(error.get("type", "Error")),
                str(error.get("message", "")) + located(self.submission, traceback),
                traceback,
            )
        return reply, out

    def _tampering_message(self) -> str:
        return (
            f"the submission tampers with the grading: {self._tampered_at_run}; "
            "no exercise is graded from then on"
        )

    def _exercise_timeout(self) -> float:
        exercise_limit = self._exercise.timeout if self._exercise else None
        return exercise_limit or self.settings.exercise_timeout

    # -- worker lifecycle ---------------------------------------------------------------------
    def _ensure_worker(self) -> WorkerProcess:
        if self._worker is not None and self._worker.alive:
            return self._worker
        self.close()
        while True:
            worker = WorkerProcess(
                self.settings,
                str(self._device),
                self._module_name(),
                self.lab.worker_threads,
                module_file=None if self.submission.is_notebook else self.submission.path.name,
            )
            try:
                worker.start()
            except (WorkerTimeout, WorkerDied) as exc:
                worker.close()
                raise GraderError(f"the worker process could not start: {exc}") from None
            if self._run_cells(worker):
                self._worker = worker
                self.names = self._query_names(worker)
                return worker
            worker.close()

    def _module_name(self) -> str:
        return "__main__" if self.submission.is_notebook else self.submission.path.stem

    def _run_cells(self, worker: WorkerProcess) -> bool:
        """Run every cell; a cell that hangs or kills the worker is skipped and we start over."""
        for cell in self.submission.cells:
            if cell.index in self._skipped:
                continue
            request = {"op": "exec", "source": cell.source, "filename": cell.filename}
            try:
                reply, _ = worker.request(request, [], self.settings.cell_timeout)
            except WorkerTimeout:
                self._skip(cell, f"did not finish within {self.settings.cell_timeout:g} s")
                return False
            except WorkerOverLimit as over:
                self._skip(cell, str(over))
                return False
            except WorkerProtocolError as invalid:
                self._skip(cell, f"wrote an invalid reply on the grader's channel ({invalid})")
                return False
            except WorkerDied as died:
                code = f" (exit code {died.returncode})" if died.returncode is not None else ""
                self._skip(cell, f"ended the Python process{code}")
                return False
            # A cell's error is told once, from the public checks' worker.
            if (
                not reply.get("ok")
                and not self._hidden_phase
                and cell.index not in self.cell_errors
            ):
                error = reply.get("error") or {}
                where = located(self.submission, str(error.get("traceback", "")))
                text = f"{cell.label} raised {error.get('type')}: {error.get('message')}{where}"
                self.cell_errors[cell.index] = text
                self.notes.append(text)
        return True

    def _skip(self, cell: Cell, reason: str) -> None:
        self._skipped.add(cell.index)
        text = f"{cell.label} {reason}; it was skipped"
        self.cell_errors[cell.index] = text
        self.notes.append(text)

    def _query_names(self, worker: WorkerProcess) -> dict[str, str]:
        wanted = sorted({name for e in self.lab.exercises for name in e.requires})
        try:
            reply, _ = worker.request(
                {"op": "names", "names": wanted}, [], self.settings.cell_timeout
            )
        except WorkerFailure as failure:
            # Looking up names touches the submission's own objects, which may end the process.
            self.lookup_error = f"the Python process ended while they were looked up ({failure})"
            self.notes.append(f"the submission's definitions could not be looked up: {failure}")
            return {}
        names = reply.get("names")
        return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    # -- grading ------------------------------------------------------------------------------
    def grade(self, exercises: Sequence[ExerciseSpec]) -> LabResult:
        try:
            self._ensure_worker()
            public = [self._grade_exercise(exercise) for exercise in exercises]
            # Hidden checks run last, in a fresh worker, after every public one: nothing the
            # submission saw of a hidden input can reach what a public check shows.
            self.close()
            self._hidden_phase = True
            results = [self._finish(graded) for graded in public]
        finally:
            self.close()
            if self._judges is not None:
                self._judges.close()
        return LabResult(
            lab=self.lab.id,
            exercises=results,
            notes=self.notes,
            hidden_checks_run=self.lab.has_hidden,
            isolation=isolation_level(self.settings.isolation),
        )

    def _grade_exercise(self, exercise: ExerciseSpec) -> ExerciseResult | _Public:
        """Grade an exercise up to its hidden checks (all of it, when it is stopped early)."""
        missing = [name for name in exercise.requires if name not in self.names]
        if missing:
            return self._missing(exercise, missing)
        if self._tampered:
            first = self._tampered[0]
            return zero_result(
                exercise.id,
                exercise.points,
                Status.FORBIDDEN,
                f"the submission tampers with the grading: it uses {first.name} "
                f"({first.where}); no exercise is graded",
            )
        if self._tampered_at_run:
            return zero_result(
                exercise.id, exercise.points, Status.FORBIDDEN, self._tampering_message()
            )
        findings = scan(self.submission.cells, exercise.requires, exercise.forbidden)
        if findings:
            return zero_result(
                exercise.id,
                exercise.points,
                Status.FORBIDDEN,
                f"{findings[0]}: " + (exercise.forbidden_reason or _WRITE_IT_YOURSELF),
            )
        self._exercise = exercise
        self._output = []
        self._budget = self._exercise_timeout()
        self._wall_budget = self._budget * self.settings.wall_clock_factor
        try:
            checks = self._run_checks([c for c in runnable(exercise.checks) if not c.hidden])
            drawn = self._sweep(exercise, checks)
        except StudentForbidden as forbidden:
            return zero_result(exercise.id, exercise.points, Status.FORBIDDEN, str(forbidden))
        output = "".join(self._output)
        return _Public(exercise, checks, self._budget, self._wall_budget, output, drawn)

    def _sweep(self, exercise: ExerciseSpec, checks: list[CheckResult]) -> Sweep | None:
        """The exercise's function against its reference, when a public check's values were
        wrong (not when the code did not run: then the message says all there is)."""
        if exercise.plot is None or all(c.status is not Status.FAILED for c in checks):
            return None
        try:
            return sweep(self, exercise.plot)
        except StudentTimeout:
            self.close()
            return None

    def _finish(self, graded: ExerciseResult | _Public) -> ExerciseResult:
        """Run the hidden checks of an exercise whose public checks ran; score it."""
        if isinstance(graded, ExerciseResult):
            return graded
        exercise = graded.exercise
        hidden = [c for c in runnable(exercise.checks) if c.hidden]
        self._exercise = exercise
        # What a hidden check printed is never shown: only the public checks' output is kept.
        self._output = []
        self._budget, self._wall_budget = graded.budget, graded.wall_budget
        try:
            checks = graded.checks + self._run_checks(hidden)
        except StudentForbidden:
            message = "a hidden check found a call of a function this exercise forbids"
            return zero_result(exercise.id, exercise.points, Status.FORBIDDEN, message)
        scored = score_exercise(exercise.id, exercise.points, checks, graded.output)
        return scored.model_copy(update={"sweep": graded.sweep}) if graded.sweep else scored

    def _run_checks(self, checks: Sequence[CheckSpec]) -> list[CheckResult]:
        results: list[CheckResult] = []
        for check in checks:
            result = self._run_check(check)
            results.append(_withheld(result) if check.hidden else result)
            if result.status is Status.TIMEOUT:
                self.close()
        return results

    def _run_check(self, check: CheckSpec) -> CheckResult:
        def result(status: Status, message: str = "") -> CheckResult:
            return CheckResult(
                name=check.name,
                status=status,
                weight=check.weight,
                hidden=check.hidden,
                message=message,
            )

        try:
            outcome = check.run(self)
        except StudentForbidden:
            raise
        except StudentNotImplemented as failure:
            return result(Status.NOT_IMPLEMENTED, f"not implemented yet ({failure})")
        except StudentFailure as failure:
            return result(Status(failure.status), str(failure))
        except Exception as exc:
            # A bug in the check or its reference: the student's code is not to blame, so the
            # exercise goes ungraded (not zeroed) and staff get the traceback from the log.
            exercise = self._exercise.id if self._exercise else "?"
            logger.exception("the check {!r} of {} crashed", check.name, exercise)
            return result(
                Status.GRADER_ERROR,
                f"the grader crashed ({type(exc).__name__}: {exc}), not your code: the "
                "exercise is not counted; please tell the course staff",
            )
        status = Status.PASSED if outcome.passed else Status.FAILED
        return result(status, outcome.message).model_copy(
            update={
                "credit": outcome.credit,
                "series": dict(outcome.series),
                "task": outcome.task,
            }
        )

    def _missing(self, exercise: ExerciseSpec, missing: list[str]) -> ExerciseResult:
        names = ", ".join(missing)
        if self.lookup_error is not None:
            return zero_result(
                exercise.id,
                exercise.points,
                Status.ERROR,
                f"{names} could not be graded: {self.lookup_error}",
            )
        for index, error in self.cell_errors.items():
            source = next(c.source for c in self.submission.cells if c.index == index)
            if any(f"def {n}" in source or f"class {n}" in source for n in missing):
                return zero_result(
                    exercise.id,
                    exercise.points,
                    Status.ERROR,
                    f"{names} not defined because {error}",
                )
        return zero_result(
            exercise.id,
            exercise.points,
            Status.MISSING,
            f"{names} is not defined in the submission",
        )


@dataclass(frozen=True)
class _Public:
    """An exercise whose public checks ran: what its hidden checks start from."""

    exercise: ExerciseSpec
    checks: list[CheckResult]
    budget: float
    wall_budget: float
    output: str
    sweep: Sweep | None


def _withheld(result: CheckResult) -> CheckResult:
    """A hidden check's result as students may see it.

    A failed check's message is the check's own, which names hidden inputs without their
    values. Any other message quotes what the worker said (an exception's type and text, an
    exit code, a timeout's circumstances), which the submission chose and may have built from
    the hidden inputs: its digits are masked.
    """
    if result.status in (Status.PASSED, Status.FAILED):
        return result
    # Which line raised may depend on a hidden input too: the frames are left out.
    message = _DIGITS.sub("#", unlocated(result.message))
    return result.model_copy(update={"message": message})


_DIGITS = re.compile(r"\d+")


_WRITE_IT_YOURSELF = (
    "that is the function this exercise asks you to write yourself: build it from elementary "
    "tensor operations instead (arithmetic, @, torch.exp, torch.log, torch.where, torch.clamp)."
)


@functools.lru_cache(maxsize=64)
def _forbidden_on_wire(forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    # Expanded once per exercise's list, not at every call of its checks.
    return expand(forbidden).to_wire()


def _unreadable(target: str, exc: Exception) -> StudentRaised:
    return StudentRaised("InvalidResult", f"{target} returned something unreadable: {exc}")


def _death_message(target: str, died: WorkerDied) -> str:
    if isinstance(died, WorkerOverLimit):
        return f"{target} {died}"
    code = died.returncode
    detail = f" with exit code {code}" if code is not None and code >= 0 else ""
    if code is not None and code < 0:
        detail = f", killed by signal {-code} (out of memory or CPU time?)"
    return f"the Python process ended{detail} while running {target} (exit() or a crash?)"


def grade_submission(
    path: Path | Submission,
    *,
    lab: str | None = None,
    exercises: Sequence[str] | None = None,
    device: str = "auto",
    settings: GraderSettings | None = None,
) -> LabResult:
    """Grade one notebook or module (its path, or the submission loaded from it); the Python
    API behind ``grade check``. A request that cannot be graded raises :class:`UsageError`
    (see :func:`~deepgrade.engine.validation.validate_request`) before any worker starts."""
    settings = settings or GraderSettings()
    request = validate_request(lab, exercises or (), settings=settings, submission=path)
    return grade_cells(request.graded, request.load_lab(), request.exercises, device, settings)


def grade_cells(
    submission: Submission,
    lab: LabSpec,
    exercises: Sequence[str] | None = None,
    device: str = "auto",
    settings: GraderSettings | None = None,
) -> LabResult:
    """Grade an already loaded submission against ``lab`` (all exercises, or those named)."""
    settings = settings or GraderSettings()
    chosen = [lab.exercise(e) for e in exercises] if exercises else lab.exercises
    resolved = resolve_device(device)
    # Taken before the session starts its clock: waiting for the GPU is no submission's time.
    with gpu_lock(resolved):
        return Session(submission, lab, settings, resolved).grade(chosen)
