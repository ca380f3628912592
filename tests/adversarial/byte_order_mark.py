# A correct module saved with a UTF-8 byte-order mark (as Windows editors do): full marks.
import torch
from torch.autograd import Function


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)


