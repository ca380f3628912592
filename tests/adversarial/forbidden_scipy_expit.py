# Sigmoid from SciPy (library-agnostic rule): scipy.special.expit under a built name.
import torch
from scipy import special
from torch.autograd import Function

logistic_function = getattr(special, "ex" + "pit")


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.from_numpy(logistic_function(x.detach().cpu().numpy())).to(x.device, x.dtype)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y * (1 - y)


def sigmoid(x):
    return Sigmoid.apply(x)
