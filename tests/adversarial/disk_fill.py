# Writes one file far larger than the file-size limit, in its working folder.
from pathlib import Path

import torch
from torch.autograd import Function


def fill():
    chunk = b"\0" * (1 << 20)
    with Path("filler.bin").open("wb") as stream:
        for _ in range(4096):
            stream.write(chunk)


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        fill()
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        fill()
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
