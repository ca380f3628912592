"""The grader processes of a batch fork from one server that imported the grader once.

A grader started as a new interpreter imports PyTorch and the grading modules (a second or more
of CPU each), and so would its worker template. multiprocessing's fork server imports them once,
before any lab, check or submission is read, and every grader forks from it with all of that
already in memory; each grader then forks its template from itself
(:func:`deepgrade.sandbox.templates.prestart`).

``grade batch`` starts the server first thing, so that it imports while the batch process reads
the class and imports its own modules. The server, and so every grader and template, gets only
the environment variables that grading needs: whatever else the staff's shell holds (tokens of
an LMS, say) never reaches a process whose memory a worker inherits.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
from collections.abc import Iterator
from multiprocessing.context import ForkServerContext

from deepgrade.sandbox.templates import template_modules
from deepgrade.settings import GraderSettings

# Variables passed to the graders, by name and by prefix: locale, time zone, folders, and the
# settings of deepgrade, PyTorch, CUDA and the maths libraries' threads.
_PASSED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH"}
)
_PASSED_PREFIXES = ("LC_", "DEEPGRADE_", "CUDA_", "NVIDIA_", "PYTORCH_", "TORCH_", "OMP_", "MKL_")
# The module whose import brings in the grader's own modules (PyTorch among them).
_GRADER = "deepgrade.staff.executors"


def start_fork_server(settings: GraderSettings) -> ForkServerContext:
    """The multiprocessing context that the batch's grader processes start in, its server
    started (it imports in the background; a server already running is reused)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([_GRADER, *template_modules(settings)])
    with _grading_environment():
        multiprocessing.forkserver.ensure_running()
    return context


@contextlib.contextmanager
def _grading_environment() -> Iterator[None]:
    """This process's environment cut to what grading needs, while the server starts (it
    inherits the environment then, and passes it to every grader)."""
    saved = dict(os.environ)
    try:
        for name in saved:
            if name not in _PASSED and not name.startswith(_PASSED_PREFIXES):
                del os.environ[name]
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
