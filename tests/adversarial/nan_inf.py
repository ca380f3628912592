# Returns NaN forward and infinity backward.
import torch
from torch.autograd import Function


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        return torch.full_like(x, float("nan"))

    @staticmethod
    def backward(ctx, grad_output):
        return torch.full_like(grad_output, float("inf"))


def heaviside(x):
    return Heaviside.apply(x)
