# Replaces a builtin with a working look-alike (the worker keeps running): a submission that
# rewires builtins can rewire the detector's view, so this alone is tampering.
import builtins

import torch
from torch.autograd import Function

_sum = builtins.sum
builtins.sum = lambda values, start=0: _sum(values, start)


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
