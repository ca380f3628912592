# Installs a trace function (reached by a built name) that could rewrite the detector's locals.
import sys

import torch
from torch.autograd import Function


def tracer(frame, event, arg):
    return None


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        try:
            getattr(sys, "set" + "trace")(tracer)
        except BaseException:
            pass
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
