# Never returns.
import torch
from torch.autograd import Function


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
