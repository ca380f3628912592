"""The worker template: imports PyTorch once, then forks one fresh worker at a time.

It runs where workers run (inside bubblewrap, as its PID namespace's init, or with resource
limits only) and, like a worker, holds nothing of the grader's: it is told limits, given the
new worker's channels, forks, and later kills everything the worker left and reports how the
worker ended. Nothing of one worker survives into the next: every process it started is killed
and reaped first, and its files lived in folders that went with it.

Control messages are JSON on a sequenced-packet Unix socket at file descriptor 3; a worker's
pipes arrive as passed descriptors with the ``spawn`` message. No PyTorch thread pool may start
here before a fork, so the template imports modules and runs nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import json
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from deepgrade.sandbox.proctree import die_with_parent, kill_descendants, set_dumpable
from deepgrade.sandbox.worker.detector import install as install_detector
from deepgrade.sandbox.worker.main import main as worker_main
from deepgrade.sandbox.worker.namespaces import enter_private_namespaces

CONTROL_FD = 3
MESSAGE_BYTES = 65536
# A worker's own descriptors: stdin, stdout, stderr, requests, replies.
_CHANNELS = 5
_FIRST_FREE_FD = 16


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


class Template:
    """The template's state: the worker it forked last and where that worker's files live."""

    def __init__(self, control: socket.socket, namespaced: bool, user: int | None) -> None:
        self.control = control
        # Inside bubblewrap (the PID namespace's init) workers get private namespaces; with
        # limits only, a private folder under this process's working directory.
        self.namespaced = namespaced
        self.worker: int | None = None
        self.home: Path | None = None
        # The user its workers become (see preload.worker_user), or None: the template's own.
        self.user = user

    def serve(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.control, MESSAGE_BYTES, _CHANNELS)
            except ConnectionError:
                return
            if not data:
                return
            message = json.loads(data)
            if message.get("op") == "spawn":
                _send(self.control, {"pid": self.spawn(message, fds)})
            elif message.get("op") == "clean":
                _send(self.control, {"status": self.clean()})
            else:
                for fd in fds:
                    os.close(fd)
                _send(self.control, {"error": f"bad op {message.get('op')!r}"})

    def spawn(self, message: dict[str, Any], fds: list[int]) -> int:
        if not self.namespaced:
            self.home = Path(tempfile.mkdtemp(prefix="worker-", dir=Path.cwd()))
            if self.user is not None:
                os.chown(self.home, self.user, self.user)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                self._become_worker(message, fds)
            except BaseException:
                # On the worker's stderr by now, or the template's: the grader shows either.
                traceback.print_exc()
                code = 70
            finally:
                # Never back into the template's loop, whatever happened.
                os._exit(code)
        for fd in fds:
            os.close(fd)
        self.worker = pid
        return pid

    def _become_worker(self, message: dict[str, Any], fds: list[int]) -> None:
        # The control socket must be gone before any of the submission's code runs.
        self.control.detach()
        os.setsid()
        die_with_parent()
        set_dumpable(True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY)
        # Out of the way first: a passed descriptor may already sit on a number below 5.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, _FIRST_FREE_FD) for fd in [null, *fds]]
        for number, fd in enumerate(high):
            os.dup2(fd, number)
        os.closerange(_CHANNELS, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        if self.namespaced:
            enter_private_namespaces(int(message["tmpfs_bytes"]), message["keep"])
            home = "/tmp"
        else:
            home = str(self.home)
        os.environ.update(HOME=home, TMPDIR=home)
        tempfile.tempdir = None
        os.chdir(home)
        _apply_limits(message["limits"])
        if self.user is not None:
            _become(self.user)
        worker_main()

    def clean(self) -> int | None:
        """Kill and reap every process the last worker left; its exit status (``None`` if
        unknown), as a return code: negative for a signal."""
        worker, self.worker = self.worker, None
        status: int | None = None
        while True:
            if self.namespaced:
                # As the namespace's init, one signal reaches every other process in it.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)
            else:
                kill_descendants(os.getpid())
            try:
                pid, raw = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == worker:
                status = os.waitstatus_to_exitcode(raw)
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None
        return status


def _become(user: int) -> None:
    """Drop root for good: no supplementary groups, then the group, then the user."""
    os.setgroups([])
    os.setresgid(user, user, user)
    os.setresuid(user, user, user)
    # A change of user clears both: the worker must still die with the template, and the
    # grader read its memory in /proc.
    die_with_parent()
    set_dumpable(True)


def _apply_limits(limits: dict[str, list[int]]) -> None:
    for name, (soft, hard) in limits.items():
        resource.setrlimit(getattr(resource, name), (soft, hard))


def main(preload: list[str], namespaced: bool, user: int | None = None) -> None:
    # Workers may signal the namespace's init only through handlers it installed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Nothing it forked may attach to it and change what the next worker starts from.
    set_dumpable(False)
    for name in preload:
        importlib.import_module(name)
    # Once here rather than in every worker: it imports the libraries it watches.
    install_detector()
    # Everything imported so far is never collected: without this, a worker's full collections
    # would walk (and so copy, page by page) every object it inherited, hundreds of thousands
    # where the template was forked from a grader.
    gc.collect()
    gc.freeze()
    control = socket.socket(fileno=CONTROL_FD)
    _send(control, {"ready": True, "namespaced": namespaced, "python": sys.version})
    Template(control, namespaced, user).serve()
