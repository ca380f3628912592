"""Worker templates forked from the grader itself, which has imported PyTorch already.

A template started as a new interpreter imports PyTorch again (a second or more of CPU), and on
a machine with few cores that competes with the grader's own import. A grader that has imported
PyTorch (and nothing of any lab, check or other submission yet) can instead fork its template:
the pages are shared, and the template is ready at once.

Isolation stays what it was. With bubblewrap, bubblewrap still builds the sandbox, around a
holder process (``cat`` as the PID namespace's init): the forked template joins the holder's
user, mount, network, IPC, UTS and cgroup namespaces, so it sees exactly the file system a
template started by bubblewrap would, as the same unprivileged user, with every capability
dropped; and it is the init of a PID namespace of its own inside the holder's, as a started
template is of bubblewrap's, so that its workers can neither signal it nor name any process
outside. They fork from it as they do from a started template (see
:mod:`deepgrade.sandbox.worker.template`).

What the grader's memory holds at the fork is inherited, so only a grader that has read nothing
secret may fork one (:func:`deepgrade.sandbox.templates.prestart`'s callers call it first), and
the template forgets what it can of the grader: its environment (the variables and the memory
they were in), its command line, its descriptors and its signal handlers.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import signal
import site
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import IO, NoReturn

from deepgrade.sandbox.proctree import adopt_orphans, children, die_with_parent, kill_tree
from deepgrade.sandbox.worker.namespaces import checked, drop_capabilities, libc

# setns(2) flags of the namespaces a template joins; the user namespace last where the grader
# may join the others without it (root: bubblewrap made them before its user namespace).
_NAMESPACES = {
    "mnt": 0x00020000,
    "net": 0x40000000,
    "ipc": 0x08000000,
    "uts": 0x04000000,
    "cgroup": 0x02000000,
    "pid": 0x20000000,
}
_USER_NAMESPACE = 0x10000000
# The template's generations below the forked process: with bubblewrap, the process that joined
# the holder's PID namespace, and in a namespace of its own, the template.
SANDBOXED_DEPTH = 2
_CONTROL_FD = 3
# The holder says it runs (after bubblewrap built its sandbox) by printing an empty line.
_HOLDER = ["/bin/sh", "-c", "echo; exec cat"]


class ForkError(Exception):
    """A forked template could not be set up; the caller starts one instead."""


class Holder:
    """The process bubblewrap sandboxes for a forked template to join, as its PID namespace's
    init: it waits on its standard input, which this process holds open, and ends with it."""

    def __init__(self, sandbox: list[str], timeout: float) -> None:
        self._process = subprocess.Popen(
            [*sandbox, *_HOLDER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        if not ready or self._process.stdout.read(1) != b"\n":
            said = self._said()
            self.close()
            raise ForkError(f"bubblewrap did not start the sandbox: {said or 'no answer'}")
        # Inside bubblewrap the holder is the only child of bwrap's own process.
        members = children(self._process.pid)
        if len(members) != 1:
            self.close()
            raise ForkError(f"expected one process in the sandbox, not {len(members)}")
        self.pid = members.pop()

    def _said(self) -> str:
        if self._process.poll() is None or self._process.stderr is None:
            return ""
        return self._process.stderr.read()[-300:].decode(errors="replace").strip()

    def close(self) -> None:
        if self._process.returncode is None:
            kill_tree(self._process.pid)
            self._process.wait()
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()


class ForkedProcess:
    """The forked template (with bubblewrap, the process that joined the sandbox and waits for
    the template inside), seen from the grader as :class:`subprocess.Popen` would show it."""

    def __init__(self, pid: int, stderr: IO[bytes], holder: Holder | None) -> None:
        self.pid = pid
        self.stderr = stderr
        self.returncode: int | None = None
        self._holder = holder

    def poll(self) -> int | None:
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
                self._release()
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
            self._release()
        return self.returncode

    def _release(self) -> None:
        if self._holder is not None:
            self._holder.close()
            self._holder = None


def fork_template(
    control: int,
    *,
    holder: Holder | None,
    home: str,
    environment: Mapping[str, str],
    preload: list[str],
    user: int | None,
) -> ForkedProcess:
    """Fork a template serving on the socket ``control``: in ``holder``'s sandbox, or (with
    ``None``) with limits only, as the caller's child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            _child(control, write_end, holder, home, environment, preload, user)
        except BaseException:
            _say(f"the forked template failed: {traceback.format_exc()}")
        finally:
            os._exit(70)
    os.close(write_end)
    return ForkedProcess(pid, os.fdopen(read_end, "rb"), holder)


def _say(text: str) -> None:
    """Say ``text`` on file descriptor 2 (the template's stderr, read by the grader when it
    fails): without Python's streams, which hold the grader's buffers."""
    os.write(2, text.encode(errors="replace")[-1000:] + b"\n")


def _child(
    control: int,
    stderr: int,
    holder: Holder | None,
    home: str,
    environment: Mapping[str, str],
    preload: list[str],
    user: int | None,
) -> NoReturn:
    die_with_parent()
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    # Out of the way first: a descriptor may already sit on a number below 4.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 16) for fd in (null, null, stderr, control)]
    for number, fd in enumerate(high):
        os.dup2(fd, number, inheritable=number == _CONTROL_FD)
    # Nothing else of the grader's: its files, pipes, sockets and database connections.
    os.closerange(_CONTROL_FD + 1, os.sysconf("SC_OPEN_MAX"))
    _forget_grader(environment)
    if holder is not None:
        _join(holder.pid)
        # Joining a PID namespace places only children in it; a child then makes a namespace
        # of its own, whose init the template is, as a started template is bubblewrap's:
        # workers cannot signal it, nor name the holder or these two.
        _wait_for(os.fork())
        die_with_parent()
        checked(libc().unshare(_NAMESPACES["pid"]), "unshare pid")
        _wait_for(os.fork())
        die_with_parent()
        drop_capabilities()
    adopt_orphans()
    os.chdir(home)
    from deepgrade.sandbox.worker.template import main

    main(preload, holder is not None, user)
    os._exit(0)


def _forget_grader(environment: Mapping[str, str]) -> None:
    """Replace the grader's environment, command line and signal handlers with a fresh
    interpreter's, and overwrite the memory its environment and arguments came in."""
    path = _isolated_path()
    _erase_initial_strings()
    # Held until erased: clearing unsets each variable by its name.
    held = [*os.environb.keys(), *os.environb.values()]
    os.environ.clear()
    for value in held:
        _erase_bytes(value)
    os.environ.update(environment)
    sys.argv[:] = [""]
    sys.orig_argv[:] = []
    sys.path[:] = path
    # Streams on the descriptors 0 to 2 that the template has now, as a new interpreter's: the
    # grader's may stand on other descriptors (multiprocessing gives its children a new stdin),
    # closed here, and hold its unwritten output.
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(  # noqa: SIM115
        2, "w", buffering=1, errors="backslashreplace", closefd=False
    )
    for number in signal.valid_signals():
        handler = signal.getsignal(number)
        if callable(handler) and number != signal.SIGINT:
            signal.signal(number, signal.SIG_DFL)


def _isolated_path() -> list[str]:
    """``sys.path`` as ``python -I`` has it: without the script's or working folder, the
    folders of ``PYTHONPATH`` and the user's site-packages."""
    extra = set(os.environ.get("PYTHONPATH", "").split(os.pathsep)) | {"", site.USER_SITE or ""}
    path = sys.path if sys.flags.isolated or sys.flags.safe_path else sys.path[1:]
    return [folder for folder in path if folder not in extra]


def _erase_initial_strings() -> None:
    """Zero the argument and environment strings the kernel gave the grader at its start, which
    ``/proc/self/environ`` and ``/proc/self/cmdline`` show (proc(5): fields 48 to 51)."""
    try:
        stat = Path("/proc/self/stat").read_bytes()
        fields = stat[stat.rindex(b")") + 2 :].split()
        arg_start, arg_end, env_start, env_end = (int(f) for f in fields[45:49])
    except (OSError, ValueError):
        return
    for start, end in ((arg_start, arg_end), (env_start, env_end)):
        if 0 < start < end:
            ctypes.memset(start, 0, end - start)


def _erase_bytes(value: bytes) -> None:
    """Zero a bytes object's characters in place: the variables' values must not survive in
    memory the template's workers can read."""
    if len(value) < 2:
        return  # the interpreter's shared one-character objects: nothing secret in them
    offset = sys.getsizeof(b"") - 1  # the header before a bytes object's characters
    ctypes.memset(id(value) + offset, 0, len(value))


def _wait_for(child: int) -> None:
    """In the parent of a fork, wait for the child and end as it did; in the child, return."""
    if child:
        os._exit(max(0, os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])))


def _join(holder: int) -> None:
    """Enter the namespaces of the process ``holder``, which bubblewrap sandboxed."""
    clib = libc()
    opened = {name: os.open(f"/proc/{holder}/ns/{name}", os.O_RDONLY) for name in _NAMESPACES}
    user = os.open(f"/proc/{holder}/ns/user", os.O_RDONLY)
    # As root the others can (must) be joined first; otherwise only once in its user namespace.
    pending = {name: fd for name, fd in opened.items() if clib.setns(fd, _NAMESPACES[name]) != 0}
    checked(clib.setns(user, _USER_NAMESPACE), "setns user")
    for name, fd in pending.items():
        checked(clib.setns(fd, _NAMESPACES[name]), f"setns {name}")
    for fd in [user, *opened.values()]:
        os.close(fd)
