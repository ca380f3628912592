# Hides the forbidden function in a default argument, wrapped in functools.partial and
# swallows the stop in a bare except: the call was still seen.
import functools

import torch
from torch.autograd import Function

STEP = functools.partial(getattr(torch, "heavi" + "side"), values=torch.ones(()))


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x, step=lambda t, f=STEP: f(t)):
        try:
            return step(x).to(x.dtype)
        except BaseException:
            return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
