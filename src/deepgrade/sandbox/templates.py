"""Worker templates: interpreters that import PyTorch once and fork a fresh worker on demand.

Starting an interpreter and importing PyTorch takes a second or more, far longer than grading a
small lab, so workers are not started: they are forked from a template that did it once, in the
same isolation a worker would have had (see :mod:`deepgrade.sandbox.worker.template`, which
runs inside it).
A template serves one worker at a time and cleans up after it before forking the next; this
process keeps idle templates for reuse, one per isolation level and device.

A command launches its template before it reads any lab, check or submission other than the
one it grades (:func:`prestart`). Where it can, it imports PyTorch and forks the template from
itself (:mod:`deepgrade.sandbox.forked`), so that the import is paid once; otherwise it starts
the template as a new interpreter and imports the heavy grading modules while the template
imports its own. A template that must be replaced later is always started, never forked: by
then this process holds what its workers must not see.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import itertools
import json
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from loguru import logger

from deepgrade.model.results import IsolationLevel
from deepgrade.sandbox.forked import (
    SANDBOXED_DEPTH,
    ForkedProcess,
    ForkError,
    Holder,
    fork_template,
)
from deepgrade.sandbox.isolation import (
    SANDBOX_HOME,
    folders_under_home,
    isolation_level,
    sandbox_command,
    unreadable_python_folders,
)
from deepgrade.sandbox.proctree import adopt_orphans, children, die_with_parent, kill_tree, tree
from deepgrade.sandbox.worker.equivalents import WATCHED_MODULES
from deepgrade.settings import GraderSettings

_MIB = 1 << 20
_MESSAGE_BYTES = 65536
# Ids of the users of workers outside bubblewrap when the grader is root (see worker_user): far
# above those of people and of the ranges usually delegated to user namespaces (/etc/subuid).
_WORKER_USERS = 2_000_000_000
_WORKER_USERS_SPAN = 100_000_000
_TEMPLATE_COUNT = itertools.count()
# Set in every worker, so that a submission's own check() calls do not grade recursively.
WORKER_ENV = "DEEPGRADE_IN_WORKER"


class TemplateError(Exception):
    """A template did not start, fork or clean up as it should; it has been closed."""


# Which GPUs the grader sees, in which order: a worker's cuda:0 must be the grader's.
_CUDA_VARIABLES = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")


def _environment(home: str, device: str) -> dict[str, str]:
    """The whole environment of a template and its workers: nothing else of the grader's."""
    cuda = {name: os.environ[name] for name in _CUDA_VARIABLES if name in os.environ}
    if device.startswith("cuda"):
        # Compiled kernels would be cached in the worker's small tmpfs, for nobody.
        cuda["CUDA_CACHE_DISABLE"] = "1"
    else:
        cuda = {}
    return cuda | {
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


def worker_user() -> int | None:
    """The user id that workers outside bubblewrap run as, or ``None`` for the grader's own.

    A grader running as root gives each template's workers a user of their own, which owns no
    file and no other process: a worker can then neither signal the grader nor another
    template's workers, nor read or write root's private files. Its id is derived from the
    grader's process id, so the templates of one batch's graders differ. Where that user could
    not read the Python installation (one under root's home), workers stay root, with a warning.
    """
    if os.geteuid() != 0:
        return None
    hidden = unreadable_python_folders()
    if hidden:
        logger.warning(
            "workers run as root: an unprivileged user could not read {}", ", ".join(hidden)
        )
        return None
    return _WORKER_USERS + (os.getpid() * 64 + next(_TEMPLATE_COUNT)) % _WORKER_USERS_SPAN


class WorkerTemplate:
    """One template process, seen from the grader."""

    def __init__(self, settings: GraderSettings, device: str) -> None:
        self.settings = settings
        self.device = device
        self.isolation = isolation_level(settings.isolation)
        self._folder = tempfile.TemporaryDirectory(prefix="deepgrade-template-")
        self._process: subprocess.Popen[bytes] | ForkedProcess | None = None
        self._control: socket.socket | None = None
        self._ready = False
        self.root = -1

    @property
    def key(self) -> tuple[str, str, tuple[str, ...]]:
        return _key(self.settings, self.device)

    def launch(self, *, fork: bool = False) -> None:
        """Start the template's process; :meth:`wait_ready` waits for its imports.

        With ``fork``, this process forks it (see :mod:`deepgrade.sandbox.forked`): only a
        caller that has read nothing secret yet may ask, and where forking is not possible the
        template is started as a new interpreter.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sandboxed = self.isolation is IsolationLevel.BUBBLEWRAP
        home = SANDBOX_HOME if sandboxed else self._folder.name
        user = None if sandboxed else worker_user()
        if user is not None:
            # Its workers must reach their homes in this folder, without listing it.
            Path(self._folder.name).chmod(0o711)
        environment = _environment(home, self.device)
        try:
            if fork and self.device == "cpu":
                self._process = self._fork(theirs.fileno(), sandboxed, home, environment, user)
            else:
                self._process = self._start(theirs.fileno(), sandboxed, environment, user)
        finally:
            theirs.close()
        self._control = ours

    def _start(
        self, fd: int, sandboxed: bool, environment: dict[str, str], user: int | None
    ) -> subprocess.Popen[bytes]:
        sandbox = sandbox_command(device=self.device) if sandboxed else []
        # Libraries that look for a temporary folder when imported (dill, which PyTorch
        # imports where it is installed) would find none writable in the sandbox: they are
        # told of one (each worker resets it to its own).
        script = (
            f"import os,tempfile;os.dup2({fd},3);os.close({fd});"
            "tempfile.tempdir=os.environ['TMPDIR'];"
            "from deepgrade.sandbox.worker.template import main;"
            f"main({list(self.settings.preload)!r},{sandboxed},{user!r})"
        )
        # -I: no environment variables, no user site, and neither the working folder nor any
        # student's folder on sys.path, so a submission's torch.py cannot shadow torch.
        return subprocess.Popen(
            [*sandbox, sys.executable, "-I", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(fd,),
            cwd=self._folder.name,
            env=environment,
            start_new_session=True,
            preexec_fn=_template_process,
        )

    def _fork(
        self,
        fd: int,
        sandboxed: bool,
        home: str,
        environment: dict[str, str],
        user: int | None,
    ) -> ForkedProcess | subprocess.Popen[bytes]:
        timeout = self.settings.worker_start_timeout
        try:
            holder = Holder(sandbox_command(device=self.device), timeout) if sandboxed else None
        except ForkError as exc:
            logger.debug("starting the template instead of forking it: {}", exc)
            return self._start(fd, sandboxed, environment, user)
        return fork_template(
            fd,
            holder=holder,
            home=home,
            environment=environment,
            preload=list(self.settings.preload),
            user=user,
        )

    def wait_ready(self) -> None:
        if self._ready:
            return
        try:
            self._receive(self.settings.worker_start_timeout)
        except TemplateError as exc:
            said = b""
            if self._process is not None and self._process.stderr is not None:
                self.close()
                said = self._process.stderr.read()[-500:]
            raise TemplateError(f"{exc}: {said.decode(errors='replace').strip()}") from None
        assert self._process is not None
        self.root = self._process.pid
        if self.isolation is IsolationLevel.BUBBLEWRAP:
            # Inside bubblewrap the template is the only child of bwrap's own process, or of
            # the process that a forked template joined the sandbox with.
            forked = isinstance(self._process, ForkedProcess)
            for _ in range(SANDBOXED_DEPTH if forked else 1):
                members = children(self.root)
                if len(members) != 1:
                    self.close()
                    raise TemplateError(f"expected one process, not {len(members)}")
                self.root = members.pop()
        self._ready = True
        logger.debug("worker template {} ready ({})", self.root, self.isolation.value)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def workers(self) -> set[int]:
        """The processes of the current worker: the template's descendants (orphans of the
        worker's children are re-parented to the template, so they are among them)."""
        return tree(self.root) - {self.root}

    def spawn(self, channels: list[int], limits: dict[str, tuple[int, int]]) -> int:
        """Fork a worker on ``channels`` (stdin is /dev/null: stdout, stderr, requests,
        replies); its process id here."""
        message = {
            "op": "spawn",
            "limits": limits,
            "tmpfs_bytes": self.settings.tmpfs_size_mb * _MIB,
            "keep": folders_under_home() if self.isolation is IsolationLevel.BUBBLEWRAP else [],
        }
        self._send(message, channels)
        self._receive(self.settings.worker_start_timeout)
        forked = self.workers()
        if len(forked) != 1:
            self.close()
            raise TemplateError(f"the template should run one worker, not {len(forked)}")
        return forked.pop()

    def clean(self) -> int | None:
        """Kill what the worker left, wait until it is gone; the worker's return code.

        The template kills (inside bubblewrap, with one signal to its PID namespace) and reaps
        everything; one that does not answer is closed, and everything under it killed.
        """
        self._send({"op": "clean"}, [])
        status = self._receive(self.settings.worker_start_timeout).get("status")
        return status if isinstance(status, int) else None

    def _send(self, message: dict[str, Any], fds: list[int]) -> None:
        if self._control is None:
            raise TemplateError("the template is closed")
        try:
            socket.send_fds(self._control, [json.dumps(message).encode()], fds)
        except OSError as exc:
            self.close()
            raise TemplateError(f"the template stopped listening ({exc})") from None

    def _receive(self, timeout: float) -> dict[str, Any]:
        if self._control is None:
            raise TemplateError("the template is closed")
        self._control.settimeout(timeout)
        try:
            data = self._control.recv(_MESSAGE_BYTES)
        except TimeoutError:
            self.close()
            raise TemplateError(f"the template did not answer within {timeout:g} s") from None
        except OSError as exc:
            self.close()
            raise TemplateError(f"the template failed ({exc})") from None
        if not data:
            self.close()
            raise TemplateError("the template exited")
        reply = json.loads(data)
        if not isinstance(reply, dict) or "error" in reply:
            self.close()
            raise TemplateError(f"the template refused: {reply}")
        return reply

    def close(self) -> None:
        """Kill the template and everything under it."""
        if self._process is not None and self._process.returncode is None:
            kill_tree(self._process.pid)
            self._process.wait()
        if self._control is not None:
            self._control.close()
            self._control = None
        self._folder.cleanup()


def _template_process() -> None:
    """Between fork and exec: die with the grader, and adopt what workers leave behind."""
    die_with_parent()
    adopt_orphans()


def _key(settings: GraderSettings, device: str) -> tuple[str, str, tuple[str, ...]]:
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return (isolation_level(settings.isolation).value, kind, tuple(settings.preload))


class _Pool:
    """Idle templates of this process, taken by one worker at a time and given back."""

    def __init__(self) -> None:
        self._idle: list[WorkerTemplate] = []
        self._lock = threading.Lock()
        atexit.register(self.close)

    def prestart(self, settings: GraderSettings, device: str, *, fork: bool) -> None:
        """Launch a template now, to have it ready when the first worker is needed."""
        with self._lock:
            if any(t.key == _key(settings, device) for t in self._idle):
                return
        template = WorkerTemplate(settings, device)
        template.launch(fork=fork)
        with self._lock:
            self._idle.append(template)

    def take(self, settings: GraderSettings, device: str) -> WorkerTemplate:
        key = _key(settings, device)
        with self._lock:
            found = next((t for t in self._idle if t.key == key), None)
            if found is not None:
                self._idle.remove(found)
        if found is None or not found.alive:
            if found is not None:
                found.close()
            found = WorkerTemplate(settings, device)
            found.launch()
        # Settings that do not change the template (limits, timeouts) are the caller's.
        found.settings = settings
        found.wait_ready()
        return found

    def give_back(self, template: WorkerTemplate) -> None:
        if not template.alive:
            template.close()
            return
        with self._lock:
            self._idle.append(template)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for template in idle:
            with contextlib.suppress(Exception):
                template.close()


TEMPLATES = _Pool()


def prestart(
    settings: GraderSettings | None = None, device: str = "auto", *, clean: bool = False
) -> None:
    """Launch a worker template in the background (see the module's documentation).

    ``clean`` says that this process has read no lab, check or submission but the one it
    grades, nor run anyone's code: only then is the template forked from it (where the
    settings allow), after importing what both need. A notebook's kernel, which ran the
    student's cells, is never clean.

    Only CPU templates start early: a CUDA template's sandbox must be built after the grader
    initialised CUDA, which creates device files (``/dev/nvidia-uvm``) that it needs. Without
    PyTorch imported, ``auto`` counts as CUDA where NVIDIA's device files exist.
    """
    settings = settings or GraderSettings()
    if device.startswith("cuda") or (device == "auto" and Path("/dev/nvidiactl").exists()):
        return
    fork = clean and settings.fork_templates and sys.platform == "linux"
    if fork:
        # What both need first and most; the template imports the rest of its modules while
        # this process goes on (a grader of the fork server has them all already).
        for name in _SHARED_FIRST:
            importlib.import_module(name)
    try:
        TEMPLATES.prestart(settings, "cpu", fork=fork)
    except Exception as exc:
        # Only an early start: taking a template later reports the problem properly.
        logger.debug("could not prestart a worker template: {}", exc)


_SHARED_FIRST = ("torch", "numpy")


def template_modules(settings: GraderSettings) -> list[str]:
    """Everything a template imports: its preload, the worker's own modules, and the libraries
    whose functions the worker's detector watches. A batch's fork server imports them once for
    every grader and the template each forks (``grade check`` forks after PyTorch and NumPy)."""
    return [*settings.preload, "deepgrade.sandbox.worker.main", *WATCHED_MODULES]


def prestarted(settings: str, device: str, call: bytes, *live: Any) -> None:
    """Run a pickled ``(function, arguments)`` after launching a worker template.

    The entry point of a grader process: its template is launched (forked where it can be)
    before the call, which loads the lab, is unpickled. ``settings`` is the
    grader's settings as JSON; ``live`` are arguments that cannot be pickled by hand
    (connections), passed before the others.
    """
    prestart(GraderSettings.model_validate_json(settings), device, clean=True)
    function, arguments = pickle.loads(call)
    function(*live, *arguments)
