# Returns the right values with a broadcastable wrong shape: [n, 1] instead of [n].
import torch
from torch.autograd import Function


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        return (x >= 0).to(x.dtype).unsqueeze(-1)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output).squeeze(-1)


def heaviside(x):
    return Heaviside.apply(x)
