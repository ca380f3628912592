"""Grader-side work on a student's data, in a forked child with its own CPU and memory budget.

Some of the grader's own work costs what the student's data makes it cost: simplifying,
evaluating and printing the sympy expression of an answer (``(x+1)**999*(x+3)**999/(x+2)**999``
or a thousand-branch ``Piecewise`` are cheap to send and take hours or gigabytes to compare).
Done in the grader, a hostile answer would hold it indefinitely or take its memory.

:func:`run_confined` forks the grader, which is cheap (pages are shared until written, and all the
work needs is already imported), limits the child's CPU time (``RLIMIT_CPU``) and its address
space (``RLIMIT_AS``, above what it inherited), runs the function there and reads back its result
as JSON. A child that runs over its budget is killed and the caller gets :class:`OverBudget`,
which costs the student that check; the grader's memory and time never see the work.

The child runs only the forking thread: it must not touch locks that other threads of the
grader may have held at the fork (it does not log), and it ends with ``os._exit``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import math
import os
import resource
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

_MIB = 1 << 20
# A result is a verdict and a few short texts.
_MAX_RESULT_BYTES = 1 << 20


@dataclass(frozen=True)
class Budget:
    """What one confined call may use."""

    cpu_seconds: float = 10.0
    memory_mb: int = 1024

    @property
    def wall_seconds(self) -> float:
        # The child is charged CPU time; the wall clock only stops one that waits (it should
        # never), late enough that a loaded machine does not cut honest work short: on a machine
        # with 8 runnable processes per core, a child gets about a tenth of one.
        return 10 * self.cpu_seconds + 30


class OverBudget(Exception):
    """The work ran past its CPU time, memory or stack, or crashed; the message says which, as
    the end of a sentence ("it took more than 10 s of CPU time")."""


class ConfinedError(Exception):
    """The function raised an exception in the child (a bug of the grader, not the student's)."""


def run_confined(function: Callable[..., Any], *args: Any, budget: Budget) -> Any:
    """``function(*args)`` computed in a child process within ``budget``; its result must be
    JSON data. Raises :class:`OverBudget` or :class:`ConfinedError`."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(write_fd, function, args, budget)
    os.close(write_fd)
    try:
        data = _read_all(read_fd, time.monotonic() + budget.wall_seconds)
    finally:
        os.close(read_fd)
        status = _reap(pid)
    if data is None:
        raise OverBudget(f"it took more than {budget.wall_seconds:g} s")
    if not data:
        raise OverBudget(_death(status, budget))
    reply = json.loads(data)
    if "over" in reply:
        raise OverBudget(reply["over"])
    if "raised" in reply:
        raise ConfinedError(reply["raised"])
    return reply["result"]


def _child(
    fd: int, function: Callable[..., Any], args: tuple[Any, ...], budget: Budget
) -> NoReturn:
    try:
        # A crash here is the answer's doing, reported as such: no dump on the grader's stderr.
        faulthandler.disable()
        _limit(budget)
        try:
            reply: dict[str, Any] = {"result": function(*args)}
        except MemoryError:
            reply = {"over": f"it needed more than {budget.memory_mb} MiB of memory"}
        except RecursionError:
            reply = {"over": "it is nested too deeply to be evaluated"}
        except Exception as exc:
            reply = {"raised": f"{type(exc).__name__}: {exc}"[:2000]}
        data = json.dumps(reply).encode()
        view = memoryview(data[:_MAX_RESULT_BYTES])
        while view:
            view = view[os.write(fd, view) :]
    finally:
        # Never back into the grader's code: no atexit handlers, no buffered output flushed.
        os._exit(0)


def _limit(budget: Budget) -> None:
    """Limit this (child) process: the CPU time it is charged starts at 0 at the fork."""
    cpu = math.ceil(budget.cpu_seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    with contextlib.suppress(OSError, ValueError):
        # Above what the grader had mapped (PyTorch maps a lot it never touches).
        pages = Path("/proc/self/statm").read_text(encoding="ascii").split()[0]
        mapped = int(pages) * resource.getpagesize()
        limit = mapped + budget.memory_mb * _MIB
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _read_all(fd: int, deadline: float) -> bytes | None:
    """Everything the child writes until it closes its end; ``None`` past the deadline."""
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        if not select.select([fd], [], [], remaining)[0]:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return bytes(data)
        data += chunk[: max(0, _MAX_RESULT_BYTES - len(data))]


def _reap(pid: int) -> int:
    """Kill the child (it may have finished already) and collect its exit status."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _death(status: int, budget: Budget) -> str:
    """Why a child that sent nothing ended."""
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
        return f"it took more than {budget.cpu_seconds:g} s of CPU time"
    if os.WIFSIGNALED(status):
        return f"its evaluation crashed (signal {os.WTERMSIG(status)})"
    return "its evaluation ended without a result"
