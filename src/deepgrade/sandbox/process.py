"""The worker process seen from the grader: start it, talk to it, kill it.

A worker is forked from a worker template (see :mod:`deepgrade.sandbox.templates`): an
interpreter with PyTorch imported, inside bubblewrap where that works (see
:mod:`deepgrade.sandbox.isolation`), with a
cleared environment. The worker gets resource limits, stdin from ``/dev/null``, and its output
is drained with a cap. Every read from it has a deadline; a watchdog kills all its processes
when together they use too much memory or are too many, and every kill takes them all.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BufferedReader
from typing import Any

import torch
from loguru import logger

from deepgrade.model.results import IsolationLevel
from deepgrade.sandbox.isolation import isolation_level
from deepgrade.sandbox.proctree import cpu_seconds, kill_descendants, memory_bytes, running
from deepgrade.sandbox.replies import check_reply
from deepgrade.sandbox.templates import TEMPLATES, TemplateError, WorkerTemplate
from deepgrade.sandbox.wire import PREFIX_SIZE, WireError, pack, parse_lengths, unpack
from deepgrade.settings import GraderSettings

_MIB = 1 << 20
_WATCH_INTERVAL_S = 0.2
_EXIT_GRACE_S = 1.0
# How often a wait for a reply checks that the worker still runs.
_EXIT_POLL_S = 0.25


class WorkerFailure(Exception):
    """The worker did not answer a request properly."""


class WorkerTimeout(WorkerFailure):
    """The worker did not answer before the deadline; it has been killed."""


class WorkerDied(WorkerFailure):
    """The worker exited while handling a request."""

    def __init__(self, message: str, returncode: int | None) -> None:
        super().__init__(message)
        self.returncode = returncode


class WorkerProtocolError(WorkerDied):
    """The worker sent a reply that breaks the protocol (too large, malformed); it was killed."""


class WorkerOverLimit(WorkerDied):
    """The watchdog killed the worker: its processes together used too much memory, or too many
    processes ran. The message says which, as the end of a sentence about the student's code."""


@dataclass
class _Drain:
    """Reads one of the worker's output pipes in the background, keeping a capped prefix."""

    stream: BufferedReader
    limit: int
    kept: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        for chunk in iter(lambda: self.stream.read1(65536), b""):
            room = self.limit - len(self.kept)
            self.kept += chunk[: max(room, 0)]
            self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        text = self.kept.decode(errors="replace")
        return text + (f"\n[... {self.dropped} more bytes not shown]" if self.dropped else "")


@dataclass(frozen=True)
class _Deadline:
    """When a wait for the worker ends: once its processes used ``cpu`` seconds of CPU in all
    (``used`` says how many so far), or at the monotonic time ``wall``, a backstop for code
    that sleeps or blocks. Without a CPU clock (no /proc) the wall clock alone decides."""

    wall: float
    cpu: float | None = None
    used: Callable[[], float | None] = lambda: None

    def remaining(self) -> float:
        """Wall-clock seconds until the backstop."""
        return self.wall - time.monotonic()

    def cpu_spent(self) -> bool:
        """Whether the worker's processes used their CPU seconds (reads /proc: not too often)."""
        if self.cpu is None:
            return False
        used = self.used()
        return used is not None and used >= self.cpu


def _limits(settings: GraderSettings, device: str) -> dict[str, tuple[int, int]]:
    """The resource limits of one worker, as (soft, hard) pairs for ``setrlimit``.

    The hard limits bind too, so that the student cannot raise them. The data segment is limited
    rather than the address space, which PyTorch's allocators reserve far beyond what they use
    (CUDA workers get no such limit: the driver maps huge regions); the CPU time's hard limit is
    one second above the soft one, which only warns. Processes per user are not limited: the
    count covers the grading account's every process, and root is exempt; the watchdog counts
    instead.
    """
    cpu = int(settings.submission_timeout) + 30
    files = settings.file_size_limit_mb * _MIB
    limits = {
        "RLIMIT_FSIZE": (files, files),
        "RLIMIT_NOFILE": (settings.open_files_limit, settings.open_files_limit),
        "RLIMIT_CORE": (0, 0),
        "RLIMIT_CPU": (cpu, cpu + 1),
    }
    if not device.startswith("cuda"):
        memory = settings.memory_limit_mb * _MIB
        limits["RLIMIT_DATA"] = (memory, memory)
    return limits


class _Watchdog:
    """Watches all of a worker's processes and kills them past the memory or process limit.

    Limits per process cannot see a submission that forks: each child stays under them while
    together they exhaust the machine.
    """

    def __init__(
        self, template: WorkerTemplate, worker: int, memory_limit: int, process_limit: int
    ) -> None:
        self.template = template
        self.memory_limit = memory_limit
        self.process_limit = process_limit
        self.verdict: str | None = None
        # The worker's processes at the last look, for its CPU clock (see WorkerProcess._cpu).
        self.members = frozenset({worker})
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="deepgrade-watchdog").start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(_WATCH_INTERVAL_S):
            members = self.template.workers()
            self.members = frozenset(members)
            if len(members) > self.process_limit:
                verdict = f"started more than {self.process_limit} processes"
            elif memory_bytes(members) > self.memory_limit:
                verdict = f"used more than {self.memory_limit // _MIB} MiB of memory"
            else:
                continue
            # The verdict first: whoever sees the worker die must find out why.
            self.verdict = verdict
            logger.debug("worker of template {} {}; killing it", self.template.root, verdict)
            kill_descendants(self.template.root)
            return


class WorkerProcess:
    """One running worker, forked from a template of this process's pool."""

    def __init__(
        self,
        settings: GraderSettings,
        device: str,
        module_name: str,
        threads: int = 1,
        *,
        module_file: str | None = None,
    ) -> None:
        """``module_name`` is the submission's ``__name__``; ``module_file``, the file name of a
        module submission, becomes its ``__file__`` in the worker's working folder."""
        self.settings = settings
        self.device = device
        self.module_name = module_name
        self.module_file = module_file
        self.threads = threads
        self._template: WorkerTemplate | None = None
        self._pid = -1
        self.returncode: int | None = None
        self._watchdog: _Watchdog | None = None
        self._requests = -1
        self._replies = -1
        self._drains: list[_Drain] = []
        # CPU seconds the worker's processes used during the last request.
        self.cpu_used = 0.0

    @property
    def pid(self) -> int:
        """The worker's process id, once started."""
        return self._pid

    @property
    def isolation(self) -> IsolationLevel:
        return isolation_level(self.settings.isolation)

    def start(self) -> None:
        try:
            self._template = TEMPLATES.take(self.settings, self.device)
        except TemplateError as exc:
            raise WorkerDied(f"the worker template could not start: {exc}", None) from None
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        theirs = [out_write, err_write, request_read, reply_write]
        try:
            self._pid = self._template.spawn(theirs, _limits(self.settings, self.device))
        except TemplateError as exc:
            for fd in (request_write, reply_read, out_read, err_read):
                os.close(fd)
            raise WorkerDied(f"the worker could not be forked: {exc}", None) from None
        finally:
            for fd in theirs:
                os.close(fd)
        self._requests, self._replies = request_write, reply_read
        settings = self.settings
        self._watchdog = _Watchdog(
            self._template, self._pid, settings.memory_limit_mb * _MIB, settings.process_limit
        )
        self._watchdog.start()
        limit = settings.output_limit_chars
        self._drains = [_Drain(os.fdopen(fd, "rb"), limit) for fd in (out_read, err_read)]
        for drain in self._drains:
            drain.start()
        try:
            self._receive(_Deadline(time.monotonic() + settings.worker_start_timeout))
        except WorkerDied as died:
            # Nothing of the student's ran yet: what it printed tells the grader's problem.
            raise WorkerDied(f"{died}: {self.raw_output()[-500:]}", died.returncode) from None
        self.request(
            {
                "op": "configure",
                "output_limit": settings.output_limit_chars,
                "result_limit": settings.message_limit_mb * _MIB // 2,
                "threads": self.threads,
                "module_name": self.module_name,
                "module_file": self.module_file,
            },
            [],
            settings.worker_start_timeout,
        )
        logger.debug("worker {} forked ({})", self._pid, self.isolation.value)

    @property
    def alive(self) -> bool:
        return self._template is not None and self.returncode is None and running(self._pid)

    def raw_output(self) -> str:
        """What the worker wrote straight to its stdout and stderr, bypassing Python."""
        return "".join(drain.text() for drain in self._drains).strip()

    def request(
        self,
        header: dict[str, Any],
        tensors: list[torch.Tensor],
        timeout: float,
        wall_timeout: float | None = None,
    ) -> tuple[dict[str, Any], list[torch.Tensor]]:
        """Send one request and wait for its reply until the worker's processes have used
        ``timeout`` seconds of CPU, or ``wall_timeout`` seconds have passed (by default the
        settings' ``wall_clock_factor`` times ``timeout``). :attr:`cpu_used` then says how
        much CPU the request took.

        Charging CPU time rather than wall time keeps a classmate who hogs the machine from
        making this submission time out; the wall clock stops code that sleeps.
        """
        start, sent = self._cpu(), time.monotonic()
        wall = timeout * self.settings.wall_clock_factor if wall_timeout is None else wall_timeout
        if start is None:
            wall = min(wall, timeout)  # no CPU clock here: the wall clock is the limit
        deadline = _Deadline(sent + wall, None if start is None else start + timeout, self._cpu)
        try:
            return self._exchange(header, tensors, deadline)
        finally:
            end = self._cpu() if start is not None else None
            self.cpu_used = time.monotonic() - sent if start is None or end is None else end - start

    def _cpu(self) -> float | None:
        """CPU seconds used so far by the worker's processes, as the watchdog last found them
        (it reads all of /proc; this is asked twice per request, and often while one waits).
        A child started since is counted from the watchdog's next look, with the CPU it used
        until then; one that ended was counted by whoever reaped it."""
        template, watchdog = self._template, self._watchdog
        if template is None:
            return None
        members = watchdog.members if watchdog is not None else template.workers()
        return cpu_seconds(members, template.root)

    def _exchange(
        self, header: dict[str, Any], tensors: list[torch.Tensor], deadline: _Deadline
    ) -> tuple[dict[str, Any], list[torch.Tensor]]:
        try:
            message = pack(header, tensors)
            view = memoryview(message)
            while view:
                _wait(self._requests, deadline, writable=True, on_timeout=self._timeout)
                view = view[os.write(self._requests, view) :]
        except (BrokenPipeError, OSError) as exc:
            raise self._died(f"the worker stopped accepting requests ({exc})") from None
        return self._receive(deadline)

    def _receive(self, deadline: _Deadline) -> tuple[dict[str, Any], list[torch.Tensor]]:
        limit = self.settings.message_limit_mb * _MIB
        try:
            head_len, blob_len = parse_lengths(self._read(PREFIX_SIZE, deadline), limit)
            header, tensors = unpack(self._read(head_len, deadline), self._read(blob_len, deadline))
            return check_reply(header, self.settings.output_limit_chars), tensors
        except WireError as exc:
            self.kill()
            raise WorkerProtocolError(str(exc), None) from None

    def _read(self, size: int, deadline: _Deadline) -> bytes:
        data = bytearray()
        while len(data) < size:
            _wait(
                self._replies,
                deadline,
                writable=False,
                on_timeout=self._timeout,
                exited=self._exited,
                on_exit=lambda: self._died("the worker process exited"),
            )
            chunk = os.read(self._replies, min(size - len(data), 1 << 20))
            if not chunk:
                raise self._died("the worker process exited")
            data += chunk
        return bytes(data)

    def _exited(self) -> bool:
        return not running(self._pid)

    def _timeout(self) -> WorkerTimeout:
        self.kill()
        return WorkerTimeout("no reply before the deadline; the worker was killed")

    def _died(self, message: str) -> WorkerDied:
        # Its exit code tells why it ended: give it a moment to finish exiting before the kill
        # would replace it.
        deadline = time.monotonic() + _EXIT_GRACE_S
        while running(self._pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.kill()
        verdict = self._watchdog.verdict if self._watchdog else None
        if verdict is not None:
            return WorkerOverLimit(f"{verdict}, so it was stopped", self.returncode)
        return WorkerDied(message, self.returncode)

    def kill(self) -> None:
        """Kill all the worker's processes and release its channels; the template lives on."""
        template, self._template = self._template, None
        if template is None:
            return
        if self._watchdog is not None:
            self._watchdog.stop()
        try:
            self.returncode = template.clean()
        except TemplateError as exc:
            # The template closed itself, and with it everything under it.
            logger.debug("template {} could not clean up: {}", template.root, exc)
        else:
            TEMPLATES.give_back(template)
        for fd in (self._requests, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._requests = self._replies = -1

    def close(self) -> None:
        self.kill()


def _wait(
    fd: int,
    deadline: _Deadline,
    *,
    writable: bool,
    on_timeout: Any,
    exited: Callable[[], bool] | None = None,
    on_exit: Any = None,
) -> None:
    """Wait until ``fd`` is ready, the deadline passes, or (when given) ``exited()`` is true.

    The end of the worker does not always close its pipes: a child that escaped its tree may
    hold them open, so the worker's exit is watched for itself.
    """
    readers, writers = ([], [fd]) if writable else ([fd], [])
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise on_timeout()
        if any(select.select(readers, writers, [], min(remaining, _EXIT_POLL_S))):
            return
        if deadline.cpu_spent():
            raise on_timeout()
        if exited is not None and exited():
            raise on_exit()
