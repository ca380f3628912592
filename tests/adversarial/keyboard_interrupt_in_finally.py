# Raises KeyboardInterrupt from a finally block, after computing nothing useful.
import torch
from torch.autograd import Function


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        try:
            return torch.zeros_like(x)
        finally:
            raise KeyboardInterrupt

    @staticmethod
    def backward(ctx, grad_output):
        try:
            return grad_output
        finally:
            raise KeyboardInterrupt


def heaviside(x):
    return Heaviside.apply(x)
