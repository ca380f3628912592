# Sleeps for an hour in every call.
import time

import torch
from torch.autograd import Function


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        time.sleep(3600)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        time.sleep(3600)
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
