"""A worker's whole process tree, read from Linux's /proc: its members, memory, and its end.

A submission may fork, and a child may leave the worker's process group (``setsid``), so the
grader follows parent links rather than trusting the group. Elsewhere than Linux there is no
/proc: the tree is then the worker alone and its memory is unknown (reported as 0).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

_PROC = Path("/proc")
# prctl, looked up at import: a child between fork and exec must not load libraries.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Rounds of stopping newly found children before the tree counts as frozen; a fork bomb
# cannot outrun this for long because every process found is stopped before the next round.
_FREEZE_ROUNDS = 200
_QUIET_ROUNDS = 3


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when the thread that started it ends (Linux only).

    Safe between fork and exec. A SIGKILL of the parent cannot be caught, so only this spares
    its children from running on for nobody.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def adopt_orphans() -> None:
    """Make this process the parent of its descendants' orphans (Linux only).

    Safe between fork and exec. A child whose parent exits (a double fork) is then re-parented
    to the worker rather than to init, so it stays in the tree the grader kills.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_CHILD_SUBREAPER, 1)


def set_dumpable(dumpable: bool) -> None:
    """Whether processes of the same user may attach to this one (ptrace, /proc/PID/mem)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_DUMPABLE, int(dumpable))


def _read(path: str, size: int = 4096) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def _parents() -> dict[int, int]:
    """Every visible process's parent."""
    try:
        names = [entry.name for entry in os.scandir(_PROC)]
    except OSError:
        return {}
    parents: dict[int, int] = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            stat = _read(f"/proc/{name}/stat", 512)
            # The command name in parentheses may hold spaces: the fields after it are fixed.
            parents[int(name)] = int(stat[stat.rindex(b")") + 2 :].split(None, 2)[1])
        except (OSError, ValueError, IndexError):
            continue  # it ended while we looked (an exiting process can show an empty stat)
    return parents


def tree(root: int) -> set[int]:
    """``root`` and all its descendants that are alive now."""
    if not _PROC.is_dir():
        return {root}
    children: dict[int, list[int]] = {}
    parents = _parents()
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found = {root} if root in parents else set()
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``, now."""
    return {child for child, parent in _parents().items() if parent == pid}


def memory_bytes(pids: set[int]) -> int:
    """The memory the processes use together: proportional set sizes, or resident sizes.

    Proportional sizes split pages shared after a fork between the sharers, so a forked worker
    is not counted twice for the libraries it inherited.
    """
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            total += _pss(pid)
    return total


def cpu_seconds(pids: Iterable[int], reaper: int) -> float | None:
    """CPU seconds used by the processes ``pids``, their children they reaped, and the children
    ``reaper`` reaped (the worker's template: the worker and the orphans of its children end
    there); ``None`` where there is no /proc to read.

    Only grows while the processes run: time they wait for a core held by another process (a
    classmate's, say) is not counted.
    """
    if not _PROC.is_dir():
        return None
    total = _ticks(reaper, children_only=True)
    for pid in pids:
        total += _ticks(pid, children_only=False)
    return total / _TICKS_PER_S


def _ticks(pid: int, *, children_only: bool) -> int:
    """utime + stime (unless ``children_only``) + cutime + cstime of ``pid``, in clock ticks."""
    try:
        stat = _read(f"/proc/{pid}/stat", 1024)
        fields = stat[stat.rindex(b")") + 2 :].split()
        # Fields 14 to 17 of proc(5); the first one after the name is field 3.
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    except (OSError, ValueError):
        return 0  # it ended while we looked
    return cutime + cstime + (0 if children_only else utime + stime)


def _pss(pid: int) -> int:
    try:
        rollup = _read(f"/proc/{pid}/smaps_rollup")
    except PermissionError:
        return int(_read(f"/proc/{pid}/statm").split()[1]) * _PAGE
    for line in rollup.splitlines():
        if line.startswith(b"Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def running(pid: int) -> bool:
    """Whether ``pid`` exists and has not exited (a zombie has)."""
    try:
        stat = _read(f"/proc/{pid}/stat", 512)
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] not in (b"Z", b"X")


def kill_tree(root: int) -> None:
    """Stop the whole tree of ``root``, then kill every process in it.

    Stopping first keeps the processes from forking or being re-parented while the tree is
    read, so that nothing escapes between reading it and killing it.
    """
    _kill(root, spare_root=False)


def kill_descendants(root: int) -> None:
    """Like :func:`kill_tree`, but ``root`` itself lives on (a worker template)."""
    _kill(root, spare_root=True)


def _kill(root: int, *, spare_root: bool) -> None:
    spared = {root} if spare_root else set()
    stopped: set[int] = set()
    quiet = 0
    for _ in range(_FREEZE_ROUNDS):
        fresh = tree(root) - stopped - spared
        # A process forked just before its parent stopped can be missing from one reading of
        # /proc: only a few readings in a row without a new process count as frozen.
        quiet = 0 if fresh else quiet + 1
        if quiet == _QUIET_ROUNDS:
            break
        for pid in fresh:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= fresh
    for pid in stopped | ({root} - spared):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
