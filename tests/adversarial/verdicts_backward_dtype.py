# A backward that returns float64 gradients for float32 inputs: autograd casts them back
# silently, but the backward computed in the wrong dtype, which a forward check would flag.
import torch
from torch.autograd import Function


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        e = torch.exp(-2 * x.abs())
        y = x.sign() * (1 - e) / (1 + e)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return (grad_output * (1 - y * y)).double()


def tanh(x):
    return Tanh.apply(x)
