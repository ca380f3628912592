"""How far a worker is isolated from the grading host: bubblewrap where it works, else limits.

With bubblewrap the worker runs in new namespaces (no network, its own PIDs, IPC, UTS and an
unprivileged user), sees a read-only view of the Python installation and the system libraries,
and writes only to a private tmpfs of bounded size: the course's checks, solutions, other
submissions and results do not exist for it. Whether bubblewrap can start a sandbox here is
probed once per process by running the interpreter inside one. See docs/security.md.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from enum import StrEnum
from pathlib import Path

from loguru import logger

from deepgrade.errors import UsageError

# Inside the sandbox: the worker's home, temporary folder and working directory (a tmpfs).
SANDBOX_HOME = "/tmp"
# The user the worker runs as inside its user namespace: nobody, owner of no file it can see.
_NOBODY = "65534"
# Top-level folders of the system's programs and libraries; merged-/usr systems link them.
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The bits of /etc that the dynamic loader and libraries read; nothing about the host's users.
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives")
_PROBE_TIMEOUT_S = 30.0


class IsolationLevel(StrEnum):
    """What separates a worker from the host, recorded with every result."""

    BUBBLEWRAP = "bubblewrap"
    LIMITS = "limits-only"

    @property
    def setting(self) -> str:
        """The ``isolation`` setting that asks for exactly this level."""
        return "bubblewrap" if self is IsolationLevel.BUBBLEWRAP else "limits"


def isolation_level(setting: str) -> IsolationLevel:
    """The level that ``setting`` (``auto``, ``bubblewrap`` or ``limits``) reaches here."""
    if setting == "limits":
        return IsolationLevel.LIMITS
    problem = bubblewrap_problem()
    if problem is None:
        return IsolationLevel.BUBBLEWRAP
    if setting == "bubblewrap":
        raise UsageError(
            f"DEEPGRADE_ISOLATION=bubblewrap, but bubblewrap cannot isolate workers here: "
            f"{problem}; use DEEPGRADE_ISOLATION=auto to grade with resource limits only"
        )
    return IsolationLevel.LIMITS


@functools.cache
def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox a worker on this host, or ``None`` when it can."""
    if shutil.which("bwrap") is None:
        problem: str | None = "bwrap is not installed"
    else:
        problem = _run_probe()
    if problem is None:
        logger.info("workers run inside bubblewrap")
    else:
        logger.info("workers run with resource limits only: {}", problem)
    return problem


def _run_probe() -> str | None:
    try:
        sandbox = sandbox_command(tmpfs_bytes=1 << 20, device="cpu")
    except UsageError as exc:
        return str(exc)
    command = [*sandbox, sys.executable, "-I", "-c", ""]
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run ({exc})"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap failed here ({said[-1] if said else f'exit code {done.returncode}'})"
    return None


def sandbox_command(*, tmpfs_bytes: int, device: str) -> list[str]:
    """The ``bwrap`` arguments that run a worker for ``device``; the worker's command follows."""
    command = [
        "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--uid",
        _NOBODY,
        "--gid",
        _NOBODY,
        "--die-with-parent",
        "--new-session",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    for system in map(Path, _SYSTEM_DIRS):
        if system.is_symlink():
            command += ["--symlink", str(system.readlink()), str(system)]
        elif system.is_dir():
            command += ["--ro-bind", str(system), str(system)]
    for item in _ETC_FILES:
        command += ["--ro-bind-try", item, item]
    size = str(tmpfs_bytes)
    command += ["--size", size, "--tmpfs", SANDBOX_HOME, "--size", size, "--tmpfs", "/dev/shm"]
    # After the tmpfs, so that an installation under /tmp (a CI checkout) is bound over it.
    for python in _python_folders():
        command += ["--ro-bind", str(python), str(python)]
    if device.startswith("cuda"):
        # CUDA talks to the driver through these device files and reads the PCI topology.
        for node in sorted(Path("/dev").glob("nvidia*")):
            command += ["--dev-bind", str(node), str(node)]
        command += ["--ro-bind-try", "/sys", "/sys"]
    # Everything else read-only: the root and /dev are tmpfs that would take unbounded writes.
    command += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", SANDBOX_HOME, "--"]
    return command


def _python_folders() -> list[Path]:
    """The interpreter's installation and deepgrade's own package, outside the system folders.

    Only the package folder of deepgrade is shown, never the folder it was installed from: an
    editable install lives in a repository that also holds the checks and solutions.
    """
    import deepgrade

    prefixes = (sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix)
    wanted = {Path(p).absolute() for p in prefixes}
    wanted.add(Path(deepgrade.__file__).absolute().parent)
    shown = [Path(folder) for folder in _SYSTEM_DIRS]
    folders: list[Path] = []
    for folder in sorted(wanted, key=lambda p: len(p.parts)):
        if folder == Path(folder.anchor):
            raise UsageError(f"refusing to show the whole file system to workers ({folder})")
        if not any(folder.is_relative_to(outer) for outer in [*shown, *folders]):
            folders.append(folder)
    return folders
