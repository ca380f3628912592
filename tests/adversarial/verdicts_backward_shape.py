# A right forward whose backward returns a gradient summed over the batch: autograd raises in
# the worker; the verdict must be the precise shape mismatch, as for a forward.
import torch
from torch.autograd import Function


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = 1 / (1 + torch.exp(-x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return (grad_output * y * (1 - y)).sum(0)


def sigmoid(x):
    return Sigmoid.apply(x)
