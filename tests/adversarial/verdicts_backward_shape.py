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


class LeakyReLU(Function):
    """The same mistake in a Function that also takes a number: the gradient for x is checked,
    the None for negative_slope is not."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return torch.where(x > 0, x, negative_slope * x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        local = torch.where(x > 0, 1.0, ctx.negative_slope).to(x.dtype)
        return (grad_output * local).sum(0, keepdim=True).T, None


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU.apply(x, negative_slope)
