"""Public checks for a student release: everything ``grade check`` needs, nothing it must not see.

A student release carries the lab's public checks so that students can grade themselves, but
never the hidden checks (``hidden.toml``) nor the grader's reference implementations
(``references.py``): those are the solutions. Every reference-side computation of a check goes
through :meth:`CheckContext.run_reference` with grader-chosen, seeded inputs, so it does not
depend on the student. At release time each public check is run here against a blank
submission, once per dtype, so that it reaches every reference, replayed mistake, input builder
and task it may need; each result is stored under a key made of the reference's name, the
harness and the payload. At grading time a :class:`Recordings` table answers the same calls.

Judges cannot be recorded (they receive the student's result), so they ship as code: the
judge functions and the module-level definitions they use, cut out of ``references.py``.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib
import io
import json
import shutil
import symtable
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from loguru import logger

from deepgrade.engine.checks import CallResult, CheckSpec, judge, module
from deepgrade.engine.checks.base import runnable
from deepgrade.engine.checks.context import Harness
from deepgrade.engine.sweeps import reference_side
from deepgrade.errors import SpecError
from deepgrade.model.spec import LAB_FILE, RECORDED_FILE, REFERENCES_FILE, LabSpec, load_lab
from deepgrade.sandbox import wire
from deepgrade.sandbox.probes import Probe
from deepgrade.sandbox.worker.drivers import Driver

_FORMAT = 1
_RECORDING_SEED = 0
_LAB_PREFIX = "lab:"
# What the checks of a student release may name besides its recordings and judges.
_RELEASE_MODULE = "torch."


def resolve_reference(references: object | None, lab: LabSpec, reference: str) -> Any:
    """The live object named ``reference``: ``lab:<name>`` in ``references.py``, else a
    dotted import path such as ``torch.sigmoid``."""
    if reference.startswith(_LAB_PREFIX):
        name = reference.removeprefix(_LAB_PREFIX)
        if references is None:
            raise SpecError(f"{reference}: lab {lab.id} has no {REFERENCES_FILE}")
        if not hasattr(references, name):
            raise SpecError(f"{reference}: {lab.folder / REFERENCES_FILE} does not define {name}")
        return getattr(references, name)
    if lab.release and not reference.startswith(_RELEASE_MODULE):
        # A release may come from the student: it names library functions, never any code.
        raise SpecError(f"{reference}: a student release may only name {_RELEASE_MODULE}*")
    module_name, _, attribute = reference.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def harness_name(harness: Harness) -> str:
    return f"{harness.__module__}.{harness.__qualname__}"


def call_key(reference: str, harness: Harness, payload: Any) -> str:
    """A digest of one reference-side call; independent of the device the tensors are on."""
    digest = hashlib.sha256()
    digest.update(f"{reference}\0{harness_name(harness)}\0".encode())
    _fingerprint(payload, digest, reference)
    return digest.hexdigest()


def _fingerprint(value: Any, digest: Any, reference: str) -> None:
    def tag(text: str) -> None:
        digest.update(text.encode() + b"\0")

    if value is None or isinstance(value, bool | int | float | str):
        tag(f"{type(value).__name__}:{value!r}")
    elif isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        tag(f"tensor:{tensor.dtype}:{list(tensor.shape)}")
        digest.update(tensor.numpy().tobytes())
    elif isinstance(value, torch.Generator):
        tag("generator")
        digest.update(value.get_state().numpy().tobytes())
    elif isinstance(value, torch.dtype):
        tag(f"dtype:{value}")
    elif isinstance(value, Probe):
        tag(f"probe:{value.name}")
    elif isinstance(value, list | tuple):
        tag(f"{type(value).__name__}:{len(value)}")
        for item in value:
            _fingerprint(item, digest, reference)
    elif isinstance(value, dict):
        tag(f"dict:{len(value)}")
        for key in sorted(value, key=str):
            tag(str(key))
            _fingerprint(value[key], digest, reference)
    else:
        raise SpecError(
            f"{reference}: a call with an argument of type {type(value).__name__} "
            "cannot be recorded for a student release"
        )


class RecordedFailure(Exception):
    """A reference-side call that raised when it was recorded raises this when replayed."""


@dataclass
class Recordings:
    """The recorded results of a lab's reference-side calls, keyed by :func:`call_key`."""

    path: Path
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> Recordings | None:
        """The recordings of the lab in ``folder``, or ``None`` if it has none (a live lab)."""
        path = folder / RECORDED_FILE
        if not path.is_file():
            return None
        try:
            data = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as exc:
            raise SpecError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise SpecError(f"{path} is not a recording this version of deepgrade can read")
        return cls(path, data["calls"])

    def replay(self, reference: str, harness: Harness, payload: Any) -> Any:
        entry = self.calls.get(call_key(reference, harness, payload))
        if entry is None:
            raise SpecError(
                f"{reference}: {self.path} holds no result for this call "
                f"({harness_name(harness)}); export the lab's public checks again"
            )
        if "raised" in entry:
            raise RecordedFailure(entry["raised"])
        try:
            return wire.decode(json.loads(entry["value"]), [t.clone() for t in entry["tensors"]])
        except (ValueError, wire.WireError) as exc:
            raise SpecError(f"{reference}: {self.path} holds an unreadable result: {exc}") from None

    def record(self, key: str, reference: str, result: Any) -> None:
        """Store ``result`` under ``key`` (a :func:`call_key` taken before the call ran: a
        call may consume its generator)."""
        tensors: list[torch.Tensor] = []
        encoded = wire.encode(result, tensors)
        unrecordable = sorted(set(_foreign_types(encoded)))
        if unrecordable:
            raise SpecError(
                f"{reference} returned {', '.join(unrecordable)}, which cannot be recorded "
                "for a student release (return tensors, numbers, lists, tuples or dicts)"
            )
        self.calls[key] = {"reference": reference, "value": json.dumps(encoded), "tensors": tensors}

    def record_failure(self, key: str, reference: str, exc: Exception) -> None:
        self.calls[key] = {"reference": reference, "raised": f"{type(exc).__name__}: {exc}"}

    def save(self) -> None:
        buffer = io.BytesIO()
        torch.save({"format": _FORMAT, "calls": self.calls}, buffer)
        self.path.write_bytes(buffer.getvalue())


def _foreign_types(encoded: Any) -> Iterator[str]:
    if isinstance(encoded, dict):
        for key, inner in encoded.items():
            if key == "__object__":
                yield str(inner)
            elif key == "__sympy__":
                yield "a sympy expression"
            else:
                yield from _foreign_types(inner)
    elif isinstance(encoded, list):
        for item in encoded:
            yield from _foreign_types(item)


class _RecordingContext:
    """A :class:`CheckContext` with a blank submission: every call returns nothing usable.

    A check then fails at its first comparison, after it has computed its expected values
    and, trying to recognise the failure, replayed every declared mistake: what to record.
    """

    def __init__(self, lab: LabSpec, recordings: Recordings) -> None:
        self._lab = lab
        self._references = lab.references()
        self._recordings = recordings

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def call(
        self, target: str, args: Sequence[Any], *rest: Any, return_args: bool = False, **kwargs: Any
    ) -> CallResult:
        # The arguments come back as given: a check that an input is left untouched, which
        # comes first, passes on to the comparison that fails and replays the mistakes.
        left = copy.deepcopy(list(args)) if return_args else []
        return CallResult(value=wire.ForeignObject("blank submission"), grads=left)

    def drive(self, driver: Driver, target: str, payload: Any) -> Any:
        return {}

    def resolve(self, reference: str) -> Any:
        return resolve_reference(self._references, self._lab, reference)

    def run_reference(self, reference: str, harness: Harness, payload: Any) -> Any:
        if not reference.startswith(_LAB_PREFIX):
            return harness(self.resolve(reference), payload)
        key = call_key(reference, harness, payload)
        try:
            result = harness(self.resolve(reference), payload)
        except SpecError:
            raise
        except Exception as exc:
            self._recordings.record_failure(key, reference, exc)
            raise
        self._recordings.record(key, reference, result)
        return result


def _one_dtype_each(check: CheckSpec) -> list[CheckSpec]:
    """The check once per dtype: a failed dtype ends a check, and each must be recorded."""
    dtypes = getattr(check, "dtypes", None)
    if not isinstance(dtypes, list) or len(dtypes) < 2:
        return [check]
    return [check.model_copy(update={"dtypes": [dtype]}) for dtype in dtypes]


def record_public_checks(lab: LabSpec, path: Path) -> Recordings:
    """Run every check of ``lab`` against a blank submission, recording the reference side.

    PyTorch's global random state is fixed meanwhile, and it computes on one thread (both are
    restored after): a reference that draws from it (a module's initial weights) or whose sums
    are split across threads (a convolution, attention) records the same values in any
    process, so a release is the same file whoever makes it and whatever ran before.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_RECORDING_SEED)
            return _record(lab, path)
    finally:
        torch.set_num_threads(threads)


def _record(lab: LabSpec, path: Path) -> Recordings:
    recordings = Recordings(path)
    ctx = _RecordingContext(lab, recordings)
    for exercise in lab.exercises:
        for check in runnable(exercise.checks):
            for variant in _one_dtype_each(check):
                try:
                    variant.run(ctx)
                except SpecError:
                    raise
                except Exception as exc:
                    # A blank submission may trip a check up (a judge reading its result);
                    # what was reached is recorded, and a call never reached fails loudly
                    # when it is replayed.
                    logger.debug("recording {}: {} raised {!r}", exercise.id, check.name, exc)
        if exercise.plot is not None:
            # The plot drawn when a public check fails needs the reference over its range.
            reference_side(ctx, exercise.plot)
    return recordings


def judge_names(lab: LabSpec) -> list[str]:
    """The ``lab:`` judges that the lab's checks name, which must ship as code."""
    names = {
        check.judge.removeprefix(_LAB_PREFIX)
        for exercise in lab.exercises
        for check in exercise.checks
        if isinstance(check, judge.JudgeCheck | module.ModuleCheck)
        and check.judge is not None
        and check.judge.startswith(_LAB_PREFIX)
    }
    return sorted(names)


def extract_definitions(source: str, names: Sequence[str], filename: str) -> str:
    """The module-level statements of ``source`` that define ``names``, with all they use.

    The closure follows the global names each statement uses (for a function, the globals its
    body reads, as the compiler's symbol table has them, plus its decorators, defaults and
    annotations), so the result runs on its own.
    """
    tree = ast.parse(source, filename)
    scopes = symtable.symtable(source, filename, "exec").get_children()
    lines = source.splitlines()
    defines: dict[str, list[int]] = {}
    for index, statement in enumerate(tree.body):
        for name in _bound_names(statement):
            defines.setdefault(name, []).append(index)
    wanted: set[int] = {
        i
        for i, s in enumerate(tree.body)
        if isinstance(s, ast.ImportFrom) and s.module == "__future__"
    }
    pending = list(names)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in defines and name in names:
            raise SpecError(f"{filename} does not define the judge {name}")
        for index in defines.get(name, []):
            if index not in wanted:
                wanted.add(index)
                pending += _uses(tree.body[index], scopes)
    chunks = []
    for index in sorted(wanted):
        statement = tree.body[index]
        first = min([statement.lineno] + [d.lineno for d in _decorators(statement)])
        chunks.append("\n".join(lines[first - 1 : statement.end_lineno]))
    header = '"""Judges of the public checks, and what they use (generated by deepgrade)."""'
    return header + "\n\n" + "\n\n".join(chunks) + "\n"


def _uses(statement: ast.stmt, scopes: list[symtable.SymbolTable]) -> list[str]:
    """The global names a module-level statement needs."""
    if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [n.id for n in ast.walk(statement) if isinstance(n, ast.Name)]
    outer: list[ast.AST] = list(statement.decorator_list)
    if isinstance(statement, ast.ClassDef):
        outer += [*statement.bases, *statement.keywords]
    else:
        arguments = statement.args
        outer += [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
        outer += [
            a.annotation for a in ast.walk(arguments) if isinstance(a, ast.arg) and a.annotation
        ]
        outer += [statement.returns] if statement.returns else []
    names = [n.id for node in outer for n in ast.walk(node) if isinstance(n, ast.Name)]
    for scope in scopes:
        if scope.get_name() == statement.name and scope.get_lineno() == statement.lineno:
            names += _globals_of(scope)
    return names


def _globals_of(scope: symtable.SymbolTable) -> list[str]:
    names = [s.get_name() for s in scope.get_symbols() if s.is_global()]
    for child in scope.get_children():
        names += _globals_of(child)
    return names


def _decorators(statement: ast.stmt) -> list[ast.expr]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return statement.decorator_list
    return []


def _bound_names(statement: ast.stmt) -> list[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [statement.name]
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return [(a.asname or a.name).split(".")[0] for a in statement.names]
    if isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return []


def export_public_checks(lab_folder: Path, dest: Path) -> list[Path]:
    """Write the public checks of the lab in ``lab_folder`` into ``dest``; return the files written.

    ``dest`` is the release's ``autograder/<folder>/``; it is created if needed. It receives
    ``lab.toml``, the recorded results of the reference side (``recorded.pt``) and, when the
    checks use judges, a ``references.py`` holding only the judges and what they use.
    """
    if not (lab_folder / LAB_FILE).is_file():
        raise SpecError(f"{lab_folder} holds no {LAB_FILE}")
    lab = load_lab(lab_folder, include_hidden=False)
    dest.mkdir(parents=True, exist_ok=True)
    written = [Path(shutil.copyfile(lab_folder / LAB_FILE, dest / LAB_FILE))]
    for stale in (dest / RECORDED_FILE, dest / REFERENCES_FILE):
        stale.unlink(missing_ok=True)
    recordings = record_public_checks(lab, dest / RECORDED_FILE)
    if recordings.calls:
        recordings.save()
        written.append(recordings.path)
    judges = judge_names(lab)
    if judges:
        source = (lab_folder / REFERENCES_FILE).read_text(encoding="utf-8")
        path = dest / REFERENCES_FILE
        path.write_text(extract_definitions(source, judges, str(path)), encoding="utf-8")
        written.append(path)
    logger.debug("{}: {} recorded calls, judges {}", lab.id, len(recordings.calls), judges)
    return written
