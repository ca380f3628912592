# Wrong answers, and objects whose __del__ raise SystemExit or end the process when collected.
import os

import torch
from torch.autograd import Function


class Raises:
    def __del__(self):
        raise SystemExit(0)


class Exits:
    def __del__(self):
        os._exit(0)


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        Raises()
        return x.clone()

    @staticmethod
    def backward(ctx, grad_output):
        ctx.keep = Exits()
        return grad_output


def heaviside(x):
    return Heaviside.apply(x)
