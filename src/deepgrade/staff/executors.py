"""Where a batch's submissions are graded: a pool of local grader processes, or a Dask cluster.

Every executor runs the same grader code (:func:`grade_found`) with the settings and isolation
level the batch resolved, one submission per task, and hands each record back to the batch as
soon as it is done. Executors never write results: the process running ``grade batch`` does.
A task that fails, hangs past its time limit or loses its process costs only its submission,
which gets a ``grader_error`` record (graded again by the next run).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, ForkServerProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import torch
from loguru import logger

from deepgrade.engine.archives import candidate_files
from deepgrade.engine.grading import grade_cells
from deepgrade.engine.loader import load_submission
from deepgrade.errors import DeepgradeError, GraderError, SubmissionError, UsageError
from deepgrade.model.records import RecordStatus, SubmissionRecord, checks_version
from deepgrade.model.results import IsolationLevel
from deepgrade.model.spec import LabSpec, load_lab
from deepgrade.sandbox.proctree import die_with_parent
from deepgrade.sandbox.templates import prestarted
from deepgrade.settings import GraderSettings
from deepgrade.staff.forkserver import start_fork_server
from deepgrade.staff.submissions import FoundSubmission, open_submission

if TYPE_CHECKING:
    from distributed import Client, Future

ExecutorName = Literal["local", "dask"]
Arrived = Callable[[SubmissionRecord], None]
# A task is given up on this long after the submission's own time limit, which covers hangs
# of the grader itself (the student's code is already limited inside the grading session).
_GRACE_S = 60.0
_STOP_S = 5.0


@dataclass(frozen=True)
class GradingConfig:
    """What every task of a batch shares, sent once to each grader process."""

    lab_id: str
    lab_folder: Path
    version: str
    max_score: float
    exercises: tuple[str, ...]
    device: str
    settings: GraderSettings
    isolation: IsolationLevel

    @property
    def task_limit(self) -> float:
        """Seconds after which a task counts as hung and its submission as a grader error."""
        settings = self.settings
        return settings.worker_start_timeout + settings.submission_timeout + _GRACE_S


@dataclass(frozen=True)
class GradingTask:
    """One submission to grade, with the content hash the batch planned its work with, and
    the exercises to grade when they are not the batch's (an audit's mutant: its own)."""

    found: FoundSubmission
    content_hash: str
    exercises: tuple[str, ...] = ()


class Executor(Protocol):
    """Grades a batch's tasks somewhere, handing each record to ``arrived`` as it completes."""

    def grade(self, tasks: Sequence[GradingTask], config: GradingConfig, arrived: Arrived) -> None:
        """Return once every task has a record; never raises for a single task's failure."""
        ...


@contextlib.contextmanager
def open_executor(
    name: ExecutorName,
    *,
    jobs: int,
    scheduler: str | None,
    settings: GraderSettings,
) -> Iterator[Executor]:
    """The executor called ``name``, connected (and checked) before any grading starts.

    ``jobs`` is how many submissions a local pool grades at once; ``scheduler`` the address
    of a Dask scheduler, required with ``dask`` and refused otherwise.
    """
    if name == "local":
        if scheduler is not None:
            raise UsageError("--scheduler is only for --executor dask")
        yield LocalPool(jobs)
    elif name == "dask":
        if scheduler is None:
            raise UsageError("--executor dask needs --scheduler ADDRESS (tcp://HOST:8786)")
        with DaskCluster.connect(scheduler, settings.scheduler_timeout) as cluster:
            yield cluster
    else:
        raise UsageError(f"unknown executor {name!r}; use local or dask")


# -- grading one submission (in a grader process or a Dask worker) ------------------------------
def grade_found(task: GradingTask, lab: LabSpec, config: GradingConfig) -> SubmissionRecord:
    """Grade one found submission into its record; never raises for a bad submission."""
    # Submissions are graded side by side by processes (or Dask threads): a thread pool per
    # grader would only make the graders and their workers wait on each other.
    torch.set_num_threads(1)
    started = time.monotonic()
    record = _record(task, config, RecordStatus.GRADED)
    try:
        with open_submission(task.found, lab) as (path, inside):
            record.graded_file = inside
            submission = load_submission(path)
            record.result = grade_cells(
                submission,
                lab,
                task.exercises or config.exercises or None,
                config.device,
                config.settings,
            )
        if not record.result.complete:
            # Not the student's result: retried next run, kept out of grades and gradebook.
            first = record.result.not_graded[0]
            names = ", ".join(e.id for e in record.result.not_graded)
            record.status = RecordStatus.GRADER_ERROR
            record.error = f"a check of the grader crashed in {names}: {first.message}"
    except SubmissionError as exc:
        record.status, record.error = RecordStatus.SUBMISSION_ERROR, str(exc)
    except GraderError as exc:
        record.status, record.error = RecordStatus.GRADER_ERROR, str(exc)
    except Exception as exc:
        logger.exception("grading {} failed", task.found.student)
        record.status = RecordStatus.GRADER_ERROR
        record.error = f"the grader failed: {type(exc).__name__}: {exc}"
    if record.status is not RecordStatus.GRADER_ERROR and _changed(task):
        # The record would claim a content that it did not grade, and a later run would keep it.
        record.status = RecordStatus.GRADER_ERROR
        record.error = "the submission changed while it was graded; the next run grades it again"
    record.duration_s = round(time.monotonic() - started, 3)
    return record


def _changed(task: GradingTask) -> bool:
    """Whether the submission is no longer what was hashed when the batch planned its work."""
    try:
        return task.found.content_hash() != task.content_hash
    except OSError:
        return True


def _record(
    task: GradingTask, config: GradingConfig, status: RecordStatus, error: str = ""
) -> SubmissionRecord:
    return SubmissionRecord(
        student=task.found.student,
        lab=config.lab_id,
        source=str(task.found.source),
        content_hash=task.content_hash,
        checks_version=config.version,
        status=status,
        error=error,
        max_score=config.max_score,
        isolation=config.isolation,
    )


# -- the local pool of grader processes ---------------------------------------------------------
class LocalPool:
    """Up to ``workers`` grader processes on this machine, each grading one task at a time.

    Forked from the fork server (:mod:`deepgrade.staff.forkserver`), never from this process,
    so that no state of the batch leaks into them; a grader that dies or hangs is replaced.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def grade(self, tasks: Sequence[GradingTask], config: GradingConfig, arrived: Arrived) -> None:
        context = start_fork_server(config.settings)
        queue = deque(tasks)
        workers = min(self.workers, len(tasks))
        graders: list[_Grader] = []
        # Told to stop but not waited for: they end side by side while the others grade.
        finishing: list[_Grader] = []
        try:
            while queue or graders:
                while queue and len(graders) < workers:
                    graders.append(_Grader(context, config, queue.popleft()))
                timeout = max(0.0, min(g.deadline for g in graders) - time.monotonic())
                wait(
                    [g.connection for g in graders] + [g.process.sentinel for g in graders], timeout
                )
                for grader in list(graders):
                    record, reusable = grader.collect()
                    if record is None:
                        continue
                    # The next task first: the grader works while this process writes.
                    if reusable and queue:
                        grader.assign(queue.popleft())
                    else:
                        grader.finish()
                        graders.remove(grader)
                        finishing.append(grader)
                    arrived(record)
        finally:
            for grader in graders:
                grader.process.kill()
                grader.stop()
            for grader in finishing:
                grader.stop()


class _BatchStderr:
    """The batch's standard error, handed to a grader: forked from the fork server, it would
    write to the server's, which is this process's as it was when the server started."""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled while the grader is started: the descriptor travels with it.
        return (_BatchStderr._restore, (reduction.DupFd(2),))

    @staticmethod
    def _restore(handle: Any) -> _BatchStderr:
        os.dup2(handle.detach(), 2)
        return _BatchStderr()


def _serve(connection: Connection, stderr: _BatchStderr, config: GradingConfig) -> None:
    """A grader process: grade each task received until told to stop (``stderr``, unpickled,
    has put the batch's standard error on descriptor 2)."""
    del stderr
    _die_with_batch()
    # What the fork server imported is never collected here: collections would walk, and so
    # copy page by page, every object this process shares with it.
    gc.freeze()
    # Started without the batch's log setup: a crashed check's traceback must reach staff.
    logger.enable("deepgrade")
    logger.remove()
    logger.add(sys.stderr, level="WARNING", backtrace=False, diagnose=False)
    lab = load_lab(config.lab_folder, include_hidden=config.settings.include_hidden)
    while True:
        try:
            task = connection.recv()
        except EOFError:
            return
        if task is None:
            return
        connection.send(grade_found(task, lab, config).model_dump_json())


def _die_with_batch() -> None:
    """Have the kernel kill this grader when ``grade batch`` dies, even by SIGKILL (Linux).

    It would otherwise grade its submission to the end for nobody (it never writes results).
    Its parent is the fork server, which ends when the batch does.
    """
    die_with_parent()
    if os.getppid() == 1:  # the server, and so the batch, ended before the request
        os._exit(1)


class _Grader:
    """One grader process and the task it holds."""

    def __init__(
        self, context: ForkServerContext, config: GradingConfig, task: GradingTask
    ) -> None:
        ours, theirs = context.Pipe()
        # The lab is loaded only after the worker template was forked, which must not see it.
        call = pickle.dumps((_serve, (config,)))
        settings = config.settings.model_dump_json()
        self.process: ForkServerProcess = context.Process(
            target=prestarted,
            args=(settings, config.device, call, theirs, _BatchStderr()),
            name="deepgrade-grader",
        )
        self.process.start()
        theirs.close()
        self.connection = ours
        self.config = config
        self.task = task
        self.deadline = 0.0
        self.assign(task)

    def assign(self, task: GradingTask) -> None:
        self.task = task
        self.deadline = time.monotonic() + self.config.task_limit
        self.connection.send(task)

    def collect(self) -> tuple[SubmissionRecord | None, bool]:
        """The record of its task if done, and whether the process can take another."""
        if self.connection.poll():
            try:
                return SubmissionRecord.model_validate_json(self.connection.recv()), True
            except (EOFError, OSError):
                return self._failed(self._death()), False
        if not self.process.is_alive():
            return self._failed(self._death()), False
        if time.monotonic() > self.deadline:
            self.process.kill()
            return self._failed(f"the grader took more than {self.config.task_limit:g} s"), False
        return None, True

    def _death(self) -> str:
        self.process.join(_STOP_S)
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"the grader process was killed by signal {-code} (out of memory?)"
        return f"the grader process ended unexpectedly (exit code {code})"

    def _failed(self, reason: str) -> SubmissionRecord:
        return _record(self.task, self.config, RecordStatus.GRADER_ERROR, reason)

    def finish(self) -> None:
        """Tell the grader to end once idle, without waiting for it (see :meth:`stop`)."""
        with contextlib.suppress(OSError):
            self.connection.send(None)

    def stop(self) -> None:
        self.finish()
        self.process.join(_STOP_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(_STOP_S)
        self.connection.close()


# -- a Dask distributed cluster -----------------------------------------------------------------
class DaskCluster:
    """The workers of a Dask scheduler, each task grading one submission sent with its bytes.

    Another machine may not see this one's files, so each task carries its submission's content
    (:class:`_Shipment`); the lab is loaded on the worker from ``config.lab_folder``, which must
    hold the same checks there. Only as many tasks as the cluster has threads are in flight, so
    that each one's time limit counts from about when it starts, and a batch of thousands holds
    only those submissions in memory.
    """

    def __init__(self, client: Client, address: str) -> None:
        self._client = client
        self._address = address

    @classmethod
    @contextlib.contextmanager
    def connect(cls, address: str, timeout: float) -> Iterator[DaskCluster]:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError(
                'the dask executor needs Dask: pip install "deepgrade[dask]"'
            ) from None
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(
                f"cannot connect to the Dask scheduler at {address} within {timeout:g} s "
                f"({type(exc).__name__}: {exc})"
            ) from None
        try:
            try:
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise UsageError(
                    f"the Dask scheduler at {address} has no workers (waited {timeout:g} s); "
                    "start some with: dask worker ADDRESS --nthreads 1"
                ) from None
            yield cls(client, address)
        finally:
            client.close()

    def grade(self, tasks: Sequence[GradingTask], config: GradingConfig, arrived: Arrived) -> None:
        queue = deque(tasks)
        running: dict[Future[str], tuple[GradingTask, float]] = {}
        # Set by the client's thread whenever a task ends, so records stream back as they come.
        ended = threading.Event()
        try:
            while queue or running:
                while queue and len(running) < self._slots():
                    task = queue.popleft()
                    future = self._submit(task, config)
                    if future is None:
                        arrived(_record(task, config, RecordStatus.GRADER_ERROR, _unreadable(task)))
                        continue
                    running[future] = (task, time.monotonic() + config.task_limit)
                    future.add_done_callback(lambda _: ended.set())
                ended.clear()
                collected = False
                for future, (task, deadline) in list(running.items()):
                    record = self._collect(future, task, deadline, config)
                    if record is not None:
                        del running[future]
                        arrived(record)
                        collected = True
                if running and not collected:
                    ended.wait(max(0.0, min(d for _, d in running.values()) - time.monotonic()))
        finally:
            if running:
                self._client.cancel(list(running))

    def _slots(self) -> int:
        """Tasks to keep in flight: one per worker thread of the cluster now (at least one)."""
        threads: dict[str, int] = self._client.nthreads()
        return max(1, sum(threads.values()))

    def _submit(self, task: GradingTask, config: GradingConfig) -> Future[str] | None:
        try:
            shipment = _Shipment.pack(task)
        except OSError:
            return None
        key = f"deepgrade-{task.found.student}-{uuid.uuid4().hex[:8]}"
        return self._client.submit(_grade_shipment, shipment, config, key=key, pure=False)

    def _collect(
        self, future: Future[str], task: GradingTask, deadline: float, config: GradingConfig
    ) -> SubmissionRecord | None:
        """The record of a finished (or overdue) task; None while it may still finish."""
        if future.status == "finished":
            try:
                return SubmissionRecord.model_validate_json(future.result())
            except Exception as exc:
                reason = f"the Dask task's result was unreadable: {type(exc).__name__}: {exc}"
        elif future.status == "error":
            # A task that raised, or whose workers kept dying under it (KilledWorker).
            error = future.exception()
            reason = f"the Dask task failed (error): {type(error).__name__}: {error}"
        elif future.status in ("cancelled", "lost"):
            reason = f"the Dask task was {future.status} (its scheduler or worker went away?)"
        elif time.monotonic() > deadline:
            self._client.cancel([future])
            reason = (
                f"the grader took more than {config.task_limit:g} s on the Dask cluster "
                f"at {self._address}"
            )
        else:
            return None
        return _record(task, config, RecordStatus.GRADER_ERROR, reason)


def _unreadable(task: GradingTask) -> str:
    return f"{task.found.source} could not be read to send it to the Dask cluster"


@dataclass(frozen=True)
class _Source:
    """One source of a submission as bytes: a file's, or a folder's gradable files'."""

    name: str
    folder: bool
    files: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class _Shipment:
    """A task and the content of its submission, to grade it where its files are not."""

    task: GradingTask
    sources: tuple[_Source, ...]

    @classmethod
    def pack(cls, task: GradingTask) -> _Shipment:
        sources = []
        for source in task.found.sources:
            if source.is_dir():
                files = tuple(
                    (path.relative_to(source).as_posix(), path.read_bytes())
                    for path in candidate_files(source)
                )
                sources.append(_Source(source.name, True, files))
            else:
                sources.append(_Source(source.name, False, (("", source.read_bytes()),)))
        return cls(task, tuple(sources))

    def unpack(self, root: Path) -> GradingTask:
        """The same task with its submission's files under ``root``, same names, same hash."""
        paths = []
        for index, source in enumerate(self.sources):
            target = root / str(index) / source.name
            target.parent.mkdir(parents=True)
            if source.folder:
                target.mkdir()
            for inside, content in source.files:
                path = target / inside if inside else target
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            paths.append(target)
        found = self.task.found
        copy = FoundSubmission(found.student, found.kind, tuple(paths), found.problem)
        return GradingTask(copy, self.task.content_hash, self.task.exercises)


def _grade_shipment(shipment: _Shipment, config: GradingConfig) -> str:
    """A Dask task: grade one shipped submission, returning its record as JSON."""
    task = shipment.task
    try:
        lab = _worker_lab(config)
    except DeepgradeError as exc:
        return _record(task, config, RecordStatus.GRADER_ERROR, str(exc)).model_dump_json()
    with tempfile.TemporaryDirectory(prefix="deepgrade-shipped-") as root:
        copy = shipment.unpack(Path(root))
        record = grade_found(copy, lab, config)
    # The record names the submission as the batch found it, not this worker's vanished copy.
    record.source = str(task.found.source)
    for original, copied in zip(task.found.sources, copy.found.sources, strict=True):
        record.error = record.error.replace(str(copied), str(original))
    return record.model_dump_json()


def _worker_lab(config: GradingConfig) -> LabSpec:
    """The lab from this worker's autograder folder, which must hold the batch's very checks."""
    where = f"the Dask worker on {socket.gethostname()}"
    folder = config.lab_folder
    try:
        lab = load_lab(folder, include_hidden=config.settings.include_hidden)
    except (DeepgradeError, OSError) as exc:
        raise GraderError(
            f"{where} cannot load the lab from {folder} ({exc}); install the course's "
            "autograder folder there at the same path"
        ) from None
    checks = checks_version(lab)
    if config.version != checks and not config.version.startswith(f"{checks}+"):
        raise GraderError(
            f"{where} has other checks for {config.lab_id} in {folder} than the batch "
            "machine; copy the course's autograder folder there again"
        )
    return lab
