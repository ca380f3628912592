# Tanh with NumPy, spelled out: the source scan names the call and its library.
import numpy as np
import torch
from torch.autograd import Function


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.from_numpy(np.tanh(x.detach().cpu().numpy())).to(x.device, x.dtype)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y * y)


def tanh(x):
    return Tanh.apply(x)
