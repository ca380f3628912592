"""Worker isolation: bubblewrap's sandbox where it works, limits and the watchdog everywhere.

Tests that need bubblewrap are skipped where it cannot start a sandbox. About 30 s of CPU time:
each worker started costs a PyTorch import.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deepgrade.cli import main
from deepgrade.engine.grading import _death_message
from deepgrade.errors import UsageError
from deepgrade.model.records import read_records
from deepgrade.model.results import IsolationLevel, LabResult
from deepgrade.sandbox import isolation
from deepgrade.sandbox.isolation import bubblewrap_problem, isolation_level
from deepgrade.sandbox.process import WorkerOverLimit, WorkerProcess, WorkerTimeout
from deepgrade.sandbox.proctree import tree
from deepgrade.sandbox.templates import TEMPLATES
from deepgrade.settings import GraderSettings
from tests.helpers import FAST, LAB2_SOLUTION, ROOT

BWRAP_PROBLEM = bubblewrap_problem()
needs_bwrap = pytest.mark.skipif(
    BWRAP_PROBLEM is not None, reason=f"bubblewrap unavailable: {BWRAP_PROBLEM}"
)
LEVELS = [
    pytest.param("limits", id="limits-only"),
    pytest.param("bubblewrap", id="bubblewrap", marks=needs_bwrap),
]
ONLY = "lab2.sigmoid"


# A template started as a new interpreter, or forked from this process (sandbox/forked.py):
# both must isolate alike.
TEMPLATES_MADE = ["started", "forked"]


@contextmanager
def started(made: str = "started", **changes: Any) -> Iterator[WorkerProcess]:
    settings = FAST.model_copy(update=changes)
    # A fresh template of the kind asked for (the pool keeps one per isolation level).
    TEMPLATES.close()
    if made == "forked":
        TEMPLATES.prestart(settings, "cpu", fork=True)
    worker = WorkerProcess(settings, "cpu", "__main__")
    try:
        worker.start()
        yield worker
    finally:
        worker.close()


def run(worker: WorkerProcess, source: str, timeout: float = 10.0) -> dict[str, Any]:
    reply, _ = worker.request({"op": "exec", "source": source, "filename": "<t>"}, [], timeout)
    assert reply["ok"], reply
    return reply


def report(worker: WorkerProcess, source: str) -> Any:
    """Run ``source``, which leaves its findings in ``found``, and return them."""
    output = run(worker, f"found = None\n{source}\nprint(json.dumps(found))")["output"]
    return json.loads(output.strip().splitlines()[-1])


# What a worker sees of its surroundings, as JSON. `wave` is a module nothing imports at start.
SURROUNDINGS = """
import json, os, sys, socket
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return type(exc).__name__ + ": " + str(exc.errno)
def write(path, size):
    with open(path, "wb") as stream:
        for _ in range(size >> 20):
            stream.write(bytes(1 << 20))
with open("wave.py", "w") as stream:
    stream.write("SHADOWED = True")
import wave
found = {
    "cwd": os.getcwd(), "home": os.environ["HOME"], "uid": os.getuid(), "path": sys.path,
    "shadowed": hasattr(wave, "SHADOWED"),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "visible": {p: os.path.exists(p) for p in PATHS},
    "repository": sorted(os.listdir(REPO)),
    "loopback": attempt(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2)),
    "outside": attempt(lambda: socket.create_connection(("192.0.2.1", 80), timeout=2)),
    "small_file": attempt(lambda: write(os.path.join(os.environ["HOME"], "a"), 4 << 20)),
    "large_file": attempt(lambda: write(os.path.join(os.environ["HOME"], "b"), 16 << 20)),
    "shm": attempt(lambda: write("/dev/shm/c", 16 << 20)),
    "root": attempt(lambda: write("/evil", 0)),
    "package": attempt(lambda: write(os.path.dirname(json.__file__) + "/evil.py", 0)),
}
"""


def surroundings(worker: WorkerProcess, paths: list[Path], port: int) -> Any:
    setup = f"PATHS = {[str(p) for p in paths]!r}\nPORT = {port}\nREPO = {str(ROOT)!r}\n"
    return report(worker, setup + SURROUNDINGS)


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on the grader's loopback that accepts connections."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


# -- the level ----------------------------------------------------------------------------------
def test_the_probe_answers_once_and_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bubblewrap_problem() is BWRAP_PROBLEM  # probed once per process
    if shutil.which("bwrap") is None:
        assert BWRAP_PROBLEM == "bwrap is not installed"
    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)
    assert bubblewrap_problem.__wrapped__() == "bwrap is not installed"


def test_the_setting_picks_the_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "bubblewrap_problem", lambda: "no user namespaces")
    assert isolation_level("auto") is IsolationLevel.LIMITS
    assert isolation_level("limits") is IsolationLevel.LIMITS
    with pytest.raises(UsageError, match="no user namespaces; use DEEPGRADE_ISOLATION=auto"):
        isolation_level("bubblewrap")
    monkeypatch.setattr(isolation, "bubblewrap_problem", lambda: None)
    assert isolation_level("auto") is IsolationLevel.BUBBLEWRAP
    assert isolation_level("limits") is IsolationLevel.LIMITS
    monkeypatch.setenv("DEEPGRADE_ISOLATION", "limits")
    assert GraderSettings().isolation == "limits"


def test_the_sandbox_shows_the_package_but_not_the_repository() -> None:
    command = isolation.sandbox_command(device="cpu")
    shown = {command[i + 2] for i, arg in enumerate(command) if arg == "--ro-bind"}
    assert str(ROOT / "src" / "deepgrade") in shown
    assert not any(Path(p) in (ROOT, ROOT / "src") or ROOT.is_relative_to(p) for p in shown)
    for flag in ("--unshare-all", "--die-with-parent", "--new-session"):
        assert flag in command
    assert command[-1] == "--"


def test_the_isolation_level_stays_out_of_the_json_object() -> None:
    result = LabResult(lab="lab2", exercises=[], isolation=IsolationLevel.BUBBLEWRAP)
    assert "isolation" not in result.public_dict()
    assert LabResult.model_validate_json('{"lab": "lab2", "exercises": []}').isolation is None


# -- what a worker sees -------------------------------------------------------------------------
@needs_bwrap
@pytest.mark.parametrize("made", TEMPLATES_MADE)
def test_under_bubblewrap_the_worker_sees_only_python_and_its_tmpfs(
    tmp_path: Path, listener: int, made: str
) -> None:
    other = tmp_path / "students" / "mallory"
    other.mkdir(parents=True)
    (other / "lab2_activations.py").write_text("secret = 1\n", encoding="utf-8")
    hidden = [
        ROOT / "autograder",
        ROOT / "solutions",
        ROOT / "exercises",
        ROOT / "tests",
        ROOT / "README.md",
        other,
    ]
    with started(made, isolation="bubblewrap", tmpfs_size_mb=8) as worker:
        assert worker.isolation is IsolationLevel.BUBBLEWRAP
        seen = surroundings(
            worker,
            [*hidden, ROOT / "src" / "deepgrade" / "sandbox" / "worker" / "main.py"],
            listener,
        )
    assert seen["visible"] == {str(p): False for p in hidden} | {
        str(ROOT / "src" / "deepgrade" / "sandbox" / "worker" / "main.py"): True
    }
    # Only the folders that lead to what is shown: the virtual environment and the package.
    assert set(seen["repository"]) <= {".venv", "src"}
    assert seen["loopback"].startswith("ConnectionRefusedError")  # its own loopback, not ours
    assert seen["outside"].startswith("OSError")  # no route at all
    assert seen["uid"] == 65534
    # Its sandbox's processes only: the template (and a forked one's holder and the process
    # that joined it) and the worker.
    assert len(seen["pids"]) <= (4 if made == "forked" else 2)
    assert seen["cwd"] == seen["home"] == isolation.SANDBOX_HOME
    assert seen["small_file"] == "ok"
    assert seen["large_file"] == seen["shm"] == "OSError: 28"  # ENOSPC: the tmpfs is 8 MiB
    assert seen["root"] == seen["package"] == "OSError: 30"  # EROFS
    assert not seen["shadowed"]
    assert "" not in seen["path"] and seen["cwd"] not in seen["path"]


@pytest.mark.parametrize("made", TEMPLATES_MADE)
def test_limits_only_still_runs_and_keeps_the_working_folder_off_sys_path(
    tmp_path: Path, listener: int, made: str
) -> None:
    with started(made, isolation="limits") as worker:
        assert worker.isolation is IsolationLevel.LIMITS
        seen = surroundings(worker, [ROOT / "autograder"], listener)
    assert seen["visible"] == {str(ROOT / "autograder"): True}  # what limits alone do not hide
    assert seen["loopback"] == "ok"
    assert not seen["shadowed"]
    assert seen["cwd"] == seen["home"]
    assert "" not in seen["path"] and seen["cwd"] not in seen["path"]


# -- the watchdog and killing the whole tree ------------------------------------------------------
def comm_alive(name: str) -> list[int]:
    """Processes, not yet ended, whose command name is ``name``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry / "comm").read_text().strip() != name:
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError):
            continue  # not a process, or it ended while we looked
        if state != "Z":
            found.append(int(entry.name))
    return found


def named(marker: str) -> str:
    """Source that renames the current process to ``marker`` (as /proc/PID/comm shows it)."""
    return f"ctypes.CDLL(None).prctl(15, {marker.encode()!r})"


def eventually_none(marker: str) -> list[int]:
    for _ in range(50):
        alive = comm_alive(marker)
        if not alive:
            break
        time.sleep(0.1)
    return alive


@pytest.mark.parametrize("level", LEVELS)
def test_processes_that_together_use_too_much_memory_are_killed(level: str) -> None:
    # Each child stays well under the 600 MiB data-segment limit; together they pass it.
    bomb = """
import os, time
for _ in range(4):
    if os.fork() == 0:
        block = bytearray(150 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(60)
        os._exit(0)
time.sleep(60)
"""
    with started(isolation=level, memory_limit_mb=600) as worker:
        started_at = time.monotonic()
        with pytest.raises(WorkerOverLimit, match="used more than 600 MiB of memory"):
            worker.request({"op": "exec", "source": bomb, "filename": "<t>"}, [], 30.0)
        assert time.monotonic() - started_at < 15
        assert not worker.alive


def test_the_watchdog_verdict_becomes_the_exercise_error() -> None:
    over = WorkerOverLimit("used more than 600 MiB of memory, so it was stopped", -9)
    assert (
        _death_message("relu", over) == "relu used more than 600 MiB of memory, so it was stopped"
    )


@pytest.mark.parametrize("level", LEVELS)
def test_a_fork_bomb_that_leaves_the_process_group_is_contained(level: str) -> None:
    marker = f"bomb{uuid.uuid4().hex[:8]}"
    bomb = f"""
import ctypes, os, time
{named(marker)}
for _ in range(8):
    try:
        if os.fork() == 0:
            os.setsid()
    except OSError:
        pass
time.sleep(60)
"""
    with started(isolation=level, process_limit=32) as worker:
        with pytest.raises(WorkerOverLimit, match="started more than 32 processes"):
            worker.request({"op": "exec", "source": bomb, "filename": "<t>"}, [], 30.0)
        survivors = eventually_none(marker)
    if level == "limits":
        # Without a PID namespace a child forked in the instant of the freeze can escape the
        # tree walk (docs/security.md says so); the verdict above must hold all the same.
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    else:
        assert survivors == []


@pytest.mark.parametrize("level", LEVELS)
def test_a_timeout_kills_children_that_left_the_process_group(level: str) -> None:
    marker = f"stray{uuid.uuid4().hex[:8]}"
    stray = f"""
import ctypes, os, time
if os.fork() == 0:
    os.setsid()
    {named(marker)}
    time.sleep(60)
time.sleep(60)
"""
    with started(isolation=level) as worker:
        with pytest.raises(WorkerTimeout):
            worker.request({"op": "exec", "source": stray, "filename": "<t>"}, [], 2.0)
        assert eventually_none(marker) == []
        assert tree(worker.pid) == set()


@pytest.mark.parametrize("level", LEVELS)
def test_a_worker_dies_with_its_grader(tmp_path: Path, level: str) -> None:
    """The grader is killed outright: its worker (and, under bubblewrap, its sandbox) go too."""
    marker = f"orphan{uuid.uuid4().hex[:8]}"
    script = tmp_path / "grader.py"
    script.write_text(
        f"""
from deepgrade.sandbox.process import WorkerProcess
from deepgrade.settings import GraderSettings
worker = WorkerProcess(GraderSettings(isolation={level!r}), "cpu", "__main__")
worker.start()
source = "import ctypes, time\\n{named(marker)}\\ntime.sleep(60)"
worker.request({{"op": "exec", "source": source, "filename": "<t>"}}, [], 60)
""",
        encoding="utf-8",
    )
    grader = subprocess.Popen([sys.executable, str(script)])
    try:
        for _ in range(300):
            if comm_alive(marker):
                break
            time.sleep(0.1)
        assert comm_alive(marker), "the worker never started"
    finally:
        grader.kill()
        grader.wait()
    assert eventually_none(marker) == []


# -- the level reported -------------------------------------------------------------------------
def test_grade_check_prints_the_level_and_ignores_a_torch_py_next_to_the_notebook(
    tmp_path: Path,
) -> None:
    shutil.copy(LAB2_SOLUTION, tmp_path / "lab2_activations.py")
    (tmp_path / "torch.py").write_text("raise SystemExit('shadowed')\n", encoding="utf-8")
    args = ["check", str(tmp_path / "lab2_activations.py"), "--device", "cpu", "--exercise", ONLY]
    done = CliRunner().invoke(main, args, env={"DEEPGRADE_ISOLATION": "limits"})
    assert done.exit_code == 0, done.output
    assert "isolation: limits-only" in done.output


def test_grade_batch_prints_and_records_the_level(tmp_path: Path) -> None:
    (tmp_path / "class" / "alice").mkdir(parents=True)
    shutil.copy(LAB2_SOLUTION, tmp_path / "class" / "alice" / "lab2_activations.py")
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "class"), "--lab", "lab2", "--out", str(out)]
    done = CliRunner().invoke(main, [*args, "--jobs", "1", "--device", "cpu", "--exercise", ONLY])
    assert done.exit_code == 0, done.output
    level = isolation_level("auto")
    assert f"isolation: {level.value}" in done.output
    (record,) = read_records(out)
    assert record.isolation is level
    assert record.result is not None and record.result.isolation is level
    assert record.score == record.max_score


# -- workers forked from one template -------------------------------------------------------------
LEFT_BEHIND = """
import ctypes, os, time
home = os.environ["HOME"]
with open(os.path.join(home, "answers.txt"), "w") as stream:
    stream.write("first")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        {name}
        # Keep looking for whatever the next worker writes.
        for _ in range(600):
            for folder in (home, "/tmp", "/dev/shm"):
                try:
                    if "second.txt" in os.listdir(folder):
                        open("/proc/self/comm", "w").write("SAWIT")
                except OSError:
                    pass
            time.sleep(0.05)
    os._exit(0)
"""


@pytest.mark.parametrize("made", TEMPLATES_MADE)
@pytest.mark.parametrize("level", LEVELS)
def test_a_worker_never_meets_what_the_previous_one_left(level: str, made: str) -> None:
    """Workers of one template follow each other: the first one's processes are gone before
    the second starts, and its files are not where the second looks."""
    marker = f"left{uuid.uuid4().hex[:8]}"
    with started(made, isolation=level) as first:
        template = first._template
        run(first, LEFT_BEHIND.format(name=named(marker)))
        for _ in range(100):
            if comm_alive(marker):
                break
            time.sleep(0.05)
        assert comm_alive(marker)
    assert eventually_none(marker) == []
    second = WorkerProcess(FAST.model_copy(update={"isolation": level}), "cpu", "__main__")
    second.start()
    with contextlib.closing(second):
        assert second._template is template, "the template was not reused"
        seen = report(
            second,
            "import json, os\nopen(os.path.join(os.environ['HOME'], 'second.txt'), 'w').close()\n"
            "found = sorted(os.listdir(os.environ['HOME']))",
        )
        # A checkout under /tmp (CI's) shows the folders that hold its Python installation.
        bound = {Path(f).relative_to("/tmp").parts[0] for f in isolation.folders_under_home()}
        assert set(seen) - (bound if level == "bubblewrap" else set()) == {"second.txt"}
        time.sleep(0.3)
    assert not comm_alive("SAWIT")


@needs_bwrap
@pytest.mark.parametrize("made", TEMPLATES_MADE)
def test_a_worker_cannot_stop_its_template(made: str) -> None:
    """Inside the sandbox the template is the namespace's init: a worker's signals miss it,
    and a forked template's holder and the process that joined it have no PID there."""
    with started(made, isolation="bubblewrap") as first:
        template = first._template
        run(
            first,
            "import os, signal\nfor s in (signal.SIGKILL, signal.SIGINT, signal.SIGTERM):\n"
            "    for pid in range(1, os.getpid()):\n"
            "        os.kill(pid, s)",
        )
    assert template is not None and template.alive
    second = WorkerProcess(FAST.model_copy(update={"isolation": "bubblewrap"}), "cpu", "__main__")
    second.start()
    with contextlib.closing(second):
        assert second._template is template


def test_a_worker_runs_pytorch_on_the_threads_its_lab_asks_for() -> None:
    """One thread unless the lab says more: the template itself never started a thread pool."""
    counts = []
    for threads in (1, 3):
        worker = WorkerProcess(FAST, "cpu", "__main__", threads)
        try:
            worker.start()
            counts.append(report(worker, "import json, torch\nfound = torch.get_num_threads()"))
        finally:
            worker.close()
    assert counts == [1, 3]


# A grader whose environment holds a secret, which forks its template and reports what a worker
# of it sees of its surroundings.
FORKED_SEES = """
import json, sys
from deepgrade.sandbox.process import WorkerProcess
from deepgrade.sandbox.templates import TEMPLATES
from tests.helpers import FAST
settings = FAST.model_copy(update={"isolation": sys.argv[1]})
TEMPLATES.prestart(settings, "cpu", fork=True)
worker = WorkerProcess(settings, "cpu", "__main__")
worker.start()
source = '''
import json, os, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
found = {
    "environ": open("/proc/self/environ", "rb").read().replace(b"\\\\0", b"").decode(),
    "cmdline": open("/proc/self/cmdline", "rb").read().replace(b"\\\\0", b"").decode(),
    "env": dict(os.environ), "argv": sys.argv, "fds": sorted(os.listdir("/proc/self/fd")),
    "capabilities": status["CapEff"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
}
print(json.dumps(found))
'''
reply, _ = worker.request({"op": "exec", "source": source, "filename": "<t>"}, [], 10.0)
worker.close()
print(reply["output"].strip().splitlines()[-1])
"""


@pytest.mark.parametrize("level", LEVELS)
def test_a_forked_template_keeps_nothing_of_its_graders_environment(level: str) -> None:
    secret = f"token-{uuid.uuid4().hex}"
    done = subprocess.run(
        [sys.executable, "-c", FORKED_SEES, level, f"--password={secret}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"LMS_TOKEN": secret},
        timeout=120,
        check=True,
    )
    assert secret not in done.stdout
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["env"]["PATH"] == "/usr/bin:/bin" and "LMS_TOKEN" not in seen["env"]
    assert seen["argv"] == [""]
    # The memory they were in is blank (a started template's would show its own).
    assert seen["environ"] == seen["cmdline"] == ""
    # Its standard streams, its two channels, and the folder being listed.
    assert len(seen["fds"]) == 6
    if level == "bubblewrap":
        assert seen["capabilities"] == "0000000000000000" and seen["no_new_privs"] == "1"
