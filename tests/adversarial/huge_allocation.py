# Asks for 40 GB.
import torch
from torch.autograd import Function


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        return torch.empty(10**10)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.empty(10**10)


def heaviside(x):
    return Heaviside.apply(x)
