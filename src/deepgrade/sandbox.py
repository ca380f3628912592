"""The worker process seen from the grader: start it, talk to it, kill it.

The worker is a separate Python interpreter (``python -I``) in its own session, inside
bubblewrap where that works (see :mod:`deepgrade.isolation`), with resource limits, a cleared
environment, stdin from ``/dev/null`` and its output drained with a cap. Every read from it has
a deadline; a watchdog kills its whole process tree when together it uses too much memory or
starts too many processes, and every kill takes the whole tree.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BufferedReader
from typing import Any

import torch
from loguru import logger

from deepgrade._proctree import adopt_orphans, die_with_parent, kill_tree, memory_bytes, tree
from deepgrade._wire import PREFIX_SIZE, WireError, pack, parse_lengths, unpack
from deepgrade.isolation import SANDBOX_HOME, IsolationLevel, isolation_level, sandbox_command
from deepgrade.settings import GraderSettings

_MIB = 1 << 20
_WATCH_INTERVAL_S = 0.2
_EXIT_GRACE_S = 1.0
# How often a wait for a reply checks that the worker still runs.
_EXIT_POLL_S = 0.25
# Set in every worker, so that a submission's own check() calls do not grade recursively.
WORKER_ENV = "DEEPGRADE_IN_WORKER"


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
class _Limits:
    """The resource limits of one worker, set in the child between fork and exec.

    Every limit is hard too, so the student cannot raise it. The data segment is limited rather
    than the address space, which PyTorch's allocators reserve far beyond what they use (CUDA
    workers get no such limit: the driver maps huge regions); the CPU time's hard limit is one
    second above the soft one, which only warns. Processes per user are not limited: the count
    covers the grading account's every process, and root is exempt; the watchdog counts
    instead. The child also dies with the thread that started it.
    """

    memory: int | None
    file_size: int
    open_files: int
    cpu_seconds: int

    def apply(self) -> None:
        die_with_parent()
        adopt_orphans()
        if self.memory is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (self.memory, self.memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size, self.file_size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds + 1))


class _Watchdog:
    """Watches a worker's whole process tree and kills it past the memory or process limit.

    Limits per process cannot see a submission that forks: each child stays under them while
    together they exhaust the machine.
    """

    def __init__(
        self, process: subprocess.Popen[bytes], memory_limit: int, process_limit: int
    ) -> None:
        self.process = process
        self.memory_limit = memory_limit
        self.process_limit = process_limit
        self.verdict: str | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="deepgrade-watchdog").start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        root = self.process.pid
        while not self._stop.wait(_WATCH_INTERVAL_S):
            # Once reaped, the root's number may be given to another process: stop watching.
            # Only its exit ends the watch: /proc can miss it for a moment under a fork bomb.
            if self.process.poll() is not None:
                return
            members = tree(root)
            if len(members) > self.process_limit:
                verdict = f"started more than {self.process_limit} processes"
            elif memory_bytes(members) > self.memory_limit:
                verdict = f"used more than {self.memory_limit // _MIB} MiB of memory"
            else:
                continue
            # The verdict first: whoever sees the worker die must find out why.
            self.verdict = verdict
            logger.debug("worker {} {}; killing it", root, verdict)
            kill_tree(root)
            return


class WorkerProcess:
    """One running worker interpreter."""

    def __init__(self, settings: GraderSettings, device: str, module_name: str) -> None:
        self.settings = settings
        self.device = device
        self.module_name = module_name
        self.isolation = isolation_level(settings.isolation)
        self._workdir = tempfile.TemporaryDirectory(prefix="deepgrade-worker-")
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: _Watchdog | None = None
        self._requests = -1
        self._replies = -1
        self._drains: list[_Drain] = []

    def start(self) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        sandboxed = self.isolation is IsolationLevel.BUBBLEWRAP
        # Under bubblewrap the worker's home is its private tmpfs, elsewhere a fresh folder.
        home = SANDBOX_HOME if sandboxed else self._workdir.name
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": home,
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
            WORKER_ENV: "1",
        }
        settings = self.settings
        limits = _Limits(
            memory=None if self.device.startswith("cuda") else settings.memory_limit_mb * _MIB,
            file_size=settings.file_size_limit_mb * _MIB,
            open_files=settings.open_files_limit,
            cpu_seconds=int(settings.submission_timeout) + 30,
        )
        sandbox = (
            sandbox_command(tmpfs_bytes=settings.tmpfs_size_mb * _MIB, device=self.device)
            if sandboxed
            else []
        )
        # The worker's request and reply channels sit on fds 3 and 4 in the child.
        # Move the channels to fds 3 and 4 in the child, whatever numbers they had here.
        script = (
            "import os;"
            f"r,w=os.dup({request_read}),os.dup({reply_write});"
            "os.dup2(r,3);os.dup2(w,4);"
            f"[os.close(f) for f in {{r,w,{request_read},{reply_write}}}-{{3,4}}];"
            "from deepgrade._worker import main;main()"
        )
        # -I: no environment variables, no user site, and neither the working folder nor any
        # student's folder on sys.path, so a submission's torch.py cannot shadow torch.
        self._process = subprocess.Popen(
            [*sandbox, sys.executable, "-I", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(request_read, reply_write),
            cwd=self._workdir.name,
            env=env,
            start_new_session=True,
            preexec_fn=limits.apply,
        )
        self._watchdog = _Watchdog(
            self._process, settings.memory_limit_mb * _MIB, settings.process_limit
        )
        self._watchdog.start()
        os.close(request_read)
        os.close(reply_write)
        self._requests, self._replies = request_write, reply_read
        limit = self.settings.output_limit_chars
        streams = (self._process.stdout, self._process.stderr)
        self._drains = [_Drain(s, limit) for s in streams if isinstance(s, BufferedReader)]
        for drain in self._drains:
            drain.start()
        try:
            self._receive(time.monotonic() + self.settings.worker_start_timeout)
        except WorkerDied as died:
            # Nothing of the student's ran yet: what it printed tells the grader's problem.
            raise WorkerDied(f"{died}: {self.raw_output()[-500:]}", died.returncode) from None
        self.request(
            {
                "op": "configure",
                "output_limit": self.settings.output_limit_chars,
                "result_limit": self.settings.message_limit_mb * _MIB // 2,
                "threads": 1,
                "module_name": self.module_name,
            },
            [],
            self.settings.worker_start_timeout,
        )
        logger.debug("worker {} started ({})", self._process.pid, self.isolation.value)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def raw_output(self) -> str:
        """What the worker wrote straight to its stdout and stderr, bypassing Python."""
        return "".join(drain.text() for drain in self._drains).strip()

    def request(
        self, header: dict[str, Any], tensors: list[torch.Tensor], timeout: float
    ) -> tuple[dict[str, Any], list[torch.Tensor]]:
        """Send one request and wait for its reply at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        try:
            message = pack(header, tensors)
            view = memoryview(message)
            while view:
                _wait(self._requests, deadline, writable=True, on_timeout=self._timeout)
                view = view[os.write(self._requests, view) :]
        except (BrokenPipeError, OSError) as exc:
            raise self._died(f"the worker stopped accepting requests ({exc})") from None
        return self._receive(deadline)

    def _receive(self, deadline: float) -> tuple[dict[str, Any], list[torch.Tensor]]:
        limit = self.settings.message_limit_mb * _MIB
        try:
            head_len, blob_len = parse_lengths(self._read(PREFIX_SIZE, deadline), limit)
            return unpack(self._read(head_len, deadline), self._read(blob_len, deadline))
        except WireError as exc:
            self.kill()
            raise WorkerProtocolError(str(exc), None) from None

    def _read(self, size: int, deadline: float) -> bytes:
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
        return self._process is not None and self._process.poll() is not None

    def _timeout(self) -> WorkerTimeout:
        self.kill()
        return WorkerTimeout("no reply before the deadline; the worker was killed")

    def _died(self, message: str) -> WorkerDied:
        if self._process is not None:
            # Its exit code tells why it ended: give it a moment to finish exiting (bwrap
            # passes it on once its child is gone) before the kill would replace it.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(_EXIT_GRACE_S)
        self.kill()
        code = self._process.returncode if self._process else None
        if code is not None and code > 128 and self.isolation is IsolationLevel.BUBBLEWRAP:
            # bwrap passes on a worker killed by signal N as exit code 128 + N.
            code = 128 - code
        verdict = self._watchdog.verdict if self._watchdog else None
        if verdict is not None:
            return WorkerOverLimit(f"{verdict}, so it was stopped", code)
        return WorkerDied(message, code)

    def kill(self) -> None:
        """Kill the worker's whole process tree and release its resources."""
        if self._process is None:
            return
        if self._watchdog is not None:
            self._watchdog.stop()
        # Children that left the group are found through their parents; the group may outlive
        # its leader (a forked child), so kill it whatever poll() says. Under bubblewrap,
        # killing the sandbox's init ends its whole PID namespace.
        if self._process.returncode is None:
            kill_tree(self._process.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        for fd in (self._requests, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._requests = self._replies = -1

    def close(self) -> None:
        self.kill()
        self._workdir.cleanup()


def _wait(
    fd: int,
    deadline: float,
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
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise on_timeout()
        if any(select.select(readers, writers, [], min(remaining, _EXIT_POLL_S))):
            return
        if exited is not None and exited():
            raise on_exit()
