"""The judges of a student release, run in a worker of their own, never in the grader.

A release ships its checks' judges as code (``references.py``, see
:mod:`deepgrade.engine.recording`).
Where the course's own lab is not installed (a student's machine), they are the only judges
there are; but a release lies next to the submission and may be the student's, so its code runs
like a submission's: forked from a worker template, with the same limits and sandbox. Each call
sends the student's result, the inputs and the expected value as data and gets the verdict
back as data (``None``, a reason, or a reason and a hint).
"""

from __future__ import annotations

import ast
from functools import partial
from pathlib import Path
from typing import Any

from deepgrade.errors import SpecError
from deepgrade.model.spec import REFERENCES_FILE, LabSpec
from deepgrade.sandbox import wire
from deepgrade.sandbox.process import WorkerFailure, WorkerProcess
from deepgrade.settings import GraderSettings

_MODULE = "released_judges"


class ReleasedJudges:
    """Stands for a release's ``references.py``: each function it defines, called in a worker.

    Used as a module by :func:`deepgrade.engine.recording.resolve_reference`; :meth:`close` ends the
    worker.
    """

    def __init__(self, path: Path, settings: GraderSettings) -> None:
        self._path = path
        self._settings = settings
        self._source = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(self._source, str(path))
        except SyntaxError as exc:
            raise SpecError(f"{path} is not Python: {exc}") from None
        # Judges are functions, or what a module-level call made (``judge = make(0)``).
        self._names = {
            name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.Assign)
            for name in _bound(node)
        }
        self._worker: WorkerProcess | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(name)
        return partial(self._judge, name)

    def _judge(self, name: str, *args: Any, **kwargs: Any) -> Any:
        tensors: list[Any] = []
        header = {
            "op": "call",
            "target": name,
            "args": [wire.encode(a, tensors) for a in args],
            "kwargs": {k: wire.encode(v, tensors) for k, v in kwargs.items()},
            "device": "cpu",
            "forbidden": [],
        }
        try:
            reply, out = self._started().request(header, tensors, self._settings.cell_timeout)
            if not reply.get("ok"):
                error = reply.get("error") or {}
                raise SpecError(
                    f"{self._path}: the judge {name} raised {error.get('type')}: "
                    f"{error.get('message')}"
                )
            return wire.decode(reply.get("value"), out)
        except (WorkerFailure, wire.WireError) as exc:
            self.close()
            raise SpecError(f"{self._path}: the judge {name} failed: {exc}") from None

    def _started(self) -> WorkerProcess:
        if self._worker is not None and self._worker.alive:
            return self._worker
        self.close()
        worker = WorkerProcess(self._settings, "cpu", _MODULE)
        try:
            worker.start()
            request = {"op": "exec", "source": self._source, "filename": str(self._path)}
            reply, _ = worker.request(request, [], self._settings.cell_timeout)
        except WorkerFailure as exc:
            worker.close()
            raise SpecError(f"{self._path}: the release's judges could not start: {exc}") from None
        if not reply.get("ok"):
            worker.close()
            error = reply.get("error") or {}
            raise SpecError(f"{self._path} raised {error.get('type')}: {error.get('message')}")
        self._worker = worker
        return worker

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None


def _bound(node: ast.FunctionDef | ast.Assign) -> list[str]:
    if isinstance(node, ast.FunctionDef):
        return [node.name]
    return [t.id for t in node.targets if isinstance(t, ast.Name)]


def released_judges(lab: LabSpec, settings: GraderSettings) -> ReleasedJudges | None:
    """The judges of ``lab``, a student release, where no course's lab can lend its own."""
    path = lab.folder / REFERENCES_FILE
    if lab.release and lab.references_file is None and path.is_file():
        return ReleasedJudges(path, settings)
    return None
