# Waits for input on stdin in every call.
import torch
from torch.autograd import Function


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        return torch.full_like(x, float(input("value? ")))

    @staticmethod
    def backward(ctx, grad_output):
        return torch.full_like(grad_output, float(input("gradient? ")))


def heaviside(x):
    return Heaviside.apply(x)
