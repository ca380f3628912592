# Ships its own checks in the folder above its own (a release above a student folder):
# the same lab.toml and references.py as own_checks. The code is the stub.
import torch
from torch.autograd import Function


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        raise NotImplementedError("replace this line with your code")

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError("replace this line with your code")


def heaviside(x):
    return Heaviside.apply(x)
