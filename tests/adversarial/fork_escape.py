# Double-forks a child into a new session (out of the worker's process group), which sleeps
# named @MARKER@ (filled in at test time) in the hope of outliving the grading; the call itself
# returns garbage.
import ctypes
import os
import time

import torch
from torch.autograd import Function


def escape():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"@MARKER@", 0, 0, 0)
            time.sleep(3600)
        os._exit(0)


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        escape()
        return x.clone()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def heaviside(x):
    return Heaviside.apply(x)
