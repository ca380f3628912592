"""The worker process seen from the grader: start it, talk to it, kill it.

The worker is a separate Python interpreter in its own session (so its whole process group can
be killed), with resource limits, a cleared environment, stdin from ``/dev/null`` and its
output drained with a cap. Every read from it has a deadline.
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
from dataclasses import dataclass, field
from io import BufferedReader
from typing import Any

import torch
from loguru import logger

from deepgrade._wire import PREFIX_SIZE, WireError, pack, parse_lengths, unpack
from deepgrade.settings import GraderSettings

_MIB = 1 << 20
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


def _limit_resources(memory_bytes: int | None, file_bytes: int, cpu_seconds: int) -> None:
    """Runs in the child between fork and exec: limits that the student cannot raise."""
    if memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


class WorkerProcess:
    """One running worker interpreter."""

    def __init__(self, settings: GraderSettings, device: str, module_name: str) -> None:
        self.settings = settings
        self.device = device
        self.module_name = module_name
        self._workdir = tempfile.TemporaryDirectory(prefix="deepgrade-worker-")
        self._process: subprocess.Popen[bytes] | None = None
        self._requests = -1
        self._replies = -1
        self._drains: list[_Drain] = []

    def start(self) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": self._workdir.name,
            "TMPDIR": self._workdir.name,
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
            WORKER_ENV: "1",
        }
        cuda = self.device.startswith("cuda")
        memory = None if cuda else self.settings.memory_limit_mb * _MIB
        cpu = int(self.settings.submission_timeout) + 30
        fsize = self.settings.file_size_limit_mb * _MIB
        # The worker's request and reply channels sit on fds 3 and 4 in the child.
        # Move the channels to fds 3 and 4 in the child, whatever numbers they had here.
        script = (
            "import os;"
            f"r,w=os.dup({request_read}),os.dup({reply_write});"
            "os.dup2(r,3);os.dup2(w,4);"
            f"[os.close(f) for f in {{r,w,{request_read},{reply_write}}}-{{3,4}}];"
            "from deepgrade._worker import main;main()"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(request_read, reply_write),
            cwd=self._workdir.name,
            env=env,
            start_new_session=True,
            preexec_fn=lambda: _limit_resources(memory, fsize, cpu),
        )
        os.close(request_read)
        os.close(reply_write)
        self._requests, self._replies = request_write, reply_read
        limit = self.settings.output_limit_chars
        streams = (self._process.stdout, self._process.stderr)
        self._drains = [_Drain(s, limit) for s in streams if isinstance(s, BufferedReader)]
        for drain in self._drains:
            drain.start()
        self._receive(time.monotonic() + self.settings.worker_start_timeout)
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
        logger.debug("worker {} started", self._process.pid)

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
            _wait(self._replies, deadline, writable=False, on_timeout=self._timeout)
            chunk = os.read(self._replies, min(size - len(data), 1 << 20))
            if not chunk:
                raise self._died("the worker process exited")
            data += chunk
        return bytes(data)

    def _timeout(self) -> WorkerTimeout:
        self.kill()
        return WorkerTimeout("no reply before the deadline; the worker was killed")

    def _died(self, message: str) -> WorkerDied:
        self.kill()
        code = self._process.returncode if self._process else None
        return WorkerDied(message, code)

    def kill(self) -> None:
        """Kill the worker's whole process group and release its resources."""
        if self._process is None:
            return
        # The group may outlive its leader (a forked child), so kill it whatever poll() says.
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


def _wait(fd: int, deadline: float, *, writable: bool, on_timeout: Any) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise on_timeout()
    readers, writers = ([], [fd]) if writable else ([fd], [])
    if not any(select.select(readers, writers, [], remaining)):
        raise on_timeout()
