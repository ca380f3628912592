"""Where student code and references run: resolving ``--device``, float32 kept exact on CUDA,
and one submission at a time per GPU.

Nothing here touches CUDA at import time: the worker template imports this module before it
forks, and a process that has initialised CUDA cannot hand a working CUDA to a forked child.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from loguru import logger

from deepgrade.errors import UsageError
from deepgrade.sandbox.precision import exact_float32

_LOCK_PREFIX = "deepgrade-gpu-"


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available) as a device with an index.

    ``cuda`` becomes ``cuda:0``, the index PyTorch gives the tensors made for it, so that the
    device a worker reports for its results compares equal to the one asked for.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cpu":
        return torch.device("cpu")
    if resolved.type != "cuda":
        raise UsageError(f"unsupported device {device!r}; use cpu, cuda, cuda:N or auto")
    if not torch.cuda.is_available():
        raise UsageError(
            f"--device {device} was asked for, but PyTorch sees no CUDA device "
            f"(CUDA build: {torch.version.cuda or 'no, a CPU-only PyTorch'}); use --device cpu"
        )
    index = resolved.index or 0
    count = torch.cuda.device_count()
    if index >= count:
        raise UsageError(f"--device {device}: there is no such GPU (PyTorch sees {count})")
    exact_float32()
    return torch.device("cuda", index)


def same_device(reported: str, expected: torch.device) -> bool:
    """Whether the device a worker reported is ``expected`` (``cuda`` counts as ``cuda:0``).

    The report comes from the worker, so anything unparsable is simply not the device.
    """
    try:
        got = torch.device(reported)
    except (RuntimeError, ValueError, TypeError):
        return False
    if got.type != expected.type:
        return False
    return got.type == "cpu" or (got.index or 0) == (expected.index or 0)


def lock_path(device: torch.device) -> Path:
    """The lock file of the GPU behind ``device``, shared by every grader on this machine.

    Named after the physical GPU where ``CUDA_VISIBLE_DEVICES`` renumbers them, so that graders
    that see different subsets of the GPUs still agree on which lock guards which GPU.
    """
    index = device.index or 0
    visible = [
        item.strip() for item in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if item
    ]
    name = visible[index] if index < len(visible) else str(index)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Path(tempfile.gettempdir()) / f"{_LOCK_PREFIX}{safe}.lock"


@contextlib.contextmanager
def gpu_lock(device: torch.device) -> Iterator[None]:
    """Hold the GPU of ``device`` for the block: one submission's GPU work at a time per GPU,
    across every grader process (a ``grade batch`` pool, or several runs). No-op on the CPU.

    The lock is an ``flock`` on a file: the kernel releases it when its holder dies, so a
    killed grader never leaves a GPU locked.
    """
    if device.type != "cuda":
        yield
        return
    path = lock_path(device)
    # Read-only is enough for flock, so the file of another user of this machine serves too;
    # O_NOFOLLOW: in a shared temp folder the name could be a planted symlink.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for {} (another grader is using it; lock {})", device, path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
