# NaN and infinity satisfy equations between a function's own results: 1 - NaN is NaN, and
# inf - inf compares equal to inf. A property must not pass on non-finite values.
import torch
from torch.autograd import Function


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        return torch.full_like(x, float("nan"))

    @staticmethod
    def backward(ctx, grad_output):
        return torch.full_like(grad_output, float("nan"))


def sigmoid(x):
    return Sigmoid.apply(x)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        return torch.full_like(x, float("inf"))

    @staticmethod
    def backward(ctx, grad_output):
        return torch.full_like(grad_output, float("inf")), None


def softmax(x, dim=-1):
    return Softmax.apply(x, dim)
