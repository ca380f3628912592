# Ignores SIGXCPU and SIGTERM, tries to lift its CPU limit, and loops.
import contextlib
import resource
import signal

import torch
from torch.autograd import Function

signal.signal(signal.SIGXCPU, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with contextlib.suppress(ValueError, OSError):
    resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        while True:
            pass

    @staticmethod
    def backward(ctx, grad_output):
        while True:
            pass


def heaviside(x):
    return Heaviside.apply(x)
