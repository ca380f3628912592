"""A worker's private ``/tmp``, ``/dev/shm`` and System V IPC, set up between fork and its code.

Inside bubblewrap every worker forked from the same template shares the sandbox's namespaces,
so each one first enters a user namespace of its own (keeping its user id), with a mount and
an IPC namespace: it gets fresh tmpfs folders that vanish with it, and message queues or
shared memory that no later worker can open. Then it gives up every capability, so it cannot
unmount its folders to look beneath them. Linux only; runs in the child, before any of the
submission's code.

Folders of the Python installation that the sandbox shows under ``/tmp`` (a checkout there, as
on CI) would vanish under the new tmpfs: they are bound again, read-only, on top of it.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from pathlib import Path

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_REC = 0x4000
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522
PRIVATE_FOLDERS = ("/tmp", "/dev/shm")


class NamespaceError(OSError):
    """A namespace or mount could not be set up."""


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def libc() -> ctypes.CDLL:
    """The C library, its calls setting errno."""
    return ctypes.CDLL(None, use_errno=True)


def checked(result: int, what: str) -> None:
    """Raise :class:`NamespaceError` for a failed call (non-zero ``result``) of ``what``."""
    if result != 0:
        errno = ctypes.get_errno()
        raise NamespaceError(errno, f"{what}: {os.strerror(errno)}")


def enter_private_namespaces(tmpfs_bytes: int, keep: Sequence[str] = ()) -> None:
    """Give this process its own tmpfs folders and IPC, then drop all capabilities.

    ``keep`` are read-only folders inside the private folders that must stay visible.
    """
    clib = libc()
    uid, gid = os.getuid(), os.getgid()
    checked(clib.unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWIPC), "unshare")
    # The same ids as outside: files the worker creates stay its own, and it stays nobody.
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    # Held open across the mount below, which hides their paths but not the folders.
    kept = [(folder, os.open(folder, os.O_PATH | os.O_DIRECTORY)) for folder in keep]
    options = f"size={tmpfs_bytes},mode=0700".encode()
    for folder in PRIVATE_FOLDERS:
        flags = _MS_NOSUID | _MS_NODEV
        checked(clib.mount(b"tmpfs", folder.encode(), b"tmpfs", flags, options), f"mount {folder}")
    for folder, fd in kept:
        Path(folder).mkdir(parents=True, exist_ok=True)
        source = f"/proc/self/fd/{fd}".encode()
        bind = _MS_BIND | _MS_REC
        checked(clib.mount(source, folder.encode(), None, bind, None), f"bind {folder}")
        # The flags that the sandbox locked on the original must be repeated.
        readonly = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV
        checked(clib.mount(None, folder.encode(), None, readonly, None), f"read-only {folder}")
        os.close(fd)
    drop_capabilities()


def drop_capabilities() -> None:
    """Give up every capability for good: none held, none to inherit or regain by running a
    program, and no privileges gained through a set-user-ID program either."""
    clib = libc()
    checked(clib.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient capabilities")
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for capability in range(last + 1):
        checked(clib.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0), "capability bounding set")
    checked(clib.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    nothing = (_CapData * 2)()
    checked(clib.capset(ctypes.byref(header), nothing), "capset")
