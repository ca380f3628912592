"""How far a worker is isolated from the grading host: bubblewrap where it works, else limits.

With bubblewrap the worker template (see :mod:`deepgrade.sandbox.templates`) runs in new
namespaces (no
network, its own PIDs, IPC, UTS and an unprivileged user) as its PID namespace's init, and sees
a read-only view of the Python installation and the system libraries only: the course's checks,
solutions, other submissions and results do not exist there. Each worker it forks then enters
namespaces of its own and writes only to a private tmpfs of bounded size. Whether bubblewrap can
do all this here is probed once per process, by forking such a worker in a sandbox. See
docs/security.md.
"""

from __future__ import annotations

import functools
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from loguru import logger

from deepgrade.errors import UsageError
from deepgrade.model.results import IsolationLevel
from deepgrade.settings import PACKAGE_DIR

# Inside the sandbox: the worker's home, temporary folder and working directory (a tmpfs).
SANDBOX_HOME = "/tmp"
# The user the worker runs as inside its user namespace: nobody, owner of no file it can see.
_NOBODY = "65534"
# Top-level folders of the system's programs and libraries; merged-/usr systems link them.
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The bits of /etc that the dynamic loader and libraries read; nothing about the host's users.
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives")
_PROBE_TIMEOUT_S = 30.0
# The template's own /tmp is read-only and holds only mount points: workers mount their own.
_TEMPLATE_TMPFS_BYTES = 1 << 20
# A forked child that tries what every worker does first: private namespaces and folders.
_PROBE = """
import os, sys
from deepgrade.sandbox.worker.namespaces import enter_private_namespaces
pid = os.fork()
if pid == 0:
    try:
        enter_private_namespaces(1 << 20, KEEP)
    except BaseException as exc:
        print(exc, file=sys.stderr, flush=True)
        os._exit(1)
    os._exit(0)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


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
        sandbox = sandbox_command(device="cpu")
    except UsageError as exc:
        return str(exc)
    probe = _PROBE.replace("KEEP", repr(folders_under_home()))
    command = [*sandbox, sys.executable, "-I", "-c", probe]
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


def sandbox_command(*, device: str) -> list[str]:
    """The ``bwrap`` arguments that run a worker template for ``device``; its command follows.

    The template is the PID namespace's init (``--as-pid-1``): one signal from it then reaches
    every process a worker left behind, and the kernel kills them all when it ends.
    """
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
        "--as-pid-1",
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
    size = str(_TEMPLATE_TMPFS_BYTES)
    command += ["--size", size, "--tmpfs", SANDBOX_HOME, "--size", size, "--tmpfs", "/dev/shm"]
    # After the tmpfs, so that an installation under /tmp (a CI checkout) is bound over it.
    for python in _python_folders():
        command += ["--ro-bind", str(python), str(python)]
    if device.startswith("cuda"):
        # CUDA talks to the driver through these device files and reads the PCI topology.
        for node in sorted(Path("/dev").glob("nvidia*")):
            command += ["--dev-bind", str(node), str(node)]
        command += ["--ro-bind-try", "/sys", "/sys"]
    # Everything read-only: the root and /dev are tmpfs that would take unbounded writes, and
    # what a worker wrote in the template's own folders would be there for the next one.
    for mount in ("/dev/shm", SANDBOX_HOME, "/dev", "/"):
        command += ["--remount-ro", mount]
    command += ["--chdir", SANDBOX_HOME, "--"]
    return command


def folders_under_home() -> list[str]:
    """The Python folders shown under the workers' home, which workers must bind again."""
    return [str(folder) for folder in _python_folders() if folder.is_relative_to(SANDBOX_HOME)]


def unreadable_python_folders() -> list[str]:
    """The Python folders that a user other than their owner could not read (through a folder
    above them that others cannot enter, such as root's home), which workers need."""
    return [str(folder) for folder in _python_folders() if not _readable_by_others(folder)]


def _readable_by_others(folder: Path) -> bool:
    resolved = folder.resolve()
    try:
        enter = all(p.stat().st_mode & stat.S_IXOTH for p in [resolved, *resolved.parents])
        return enter and bool(resolved.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def _python_folders() -> list[Path]:
    """The interpreter's installation and deepgrade's own package, outside the system folders.

    Only the package folder of deepgrade is shown, never the folder it was installed from: an
    editable install lives in a repository that also holds the checks and solutions.
    """
    prefixes = (sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix)
    wanted = {Path(p).absolute() for p in prefixes}
    wanted.add(PACKAGE_DIR)
    shown = [Path(folder) for folder in _SYSTEM_DIRS]
    folders: list[Path] = []
    for folder in sorted(wanted, key=lambda p: len(p.parts)):
        if folder == Path(folder.anchor):
            raise UsageError(f"refusing to show the whole file system to workers ({folder})")
        if not any(folder.is_relative_to(outer) for outer in [*shown, *folders]):
            folders.append(folder)
    return folders
