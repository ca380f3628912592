# Forks children that busy-loop (a bounded fork bomb), then loops itself. The children name
# themselves @MARKER@ (filled in at test time) so that a test can tell whether any outlived it.
import ctypes
import os

import torch
from torch.autograd import Function


def spawn(count):
    for _ in range(count):
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"@MARKER@", 0, 0, 0)
            while True:
                pass


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        spawn(20)
        while True:
            pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def heaviside(x):
    return Heaviside.apply(x)
