# A correct submission that writes many warnings to stderr: it keeps full marks.
import sys
import warnings

import torch
from torch.autograd import Function

for index in range(5_000):
    warnings.warn(f"warning number {index}", UserWarning, stacklevel=1)
    print(f"debug line {index}", file=sys.stderr)


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        warnings.warn("forward is called", RuntimeWarning, stacklevel=1)
        print("forward is called", file=sys.stderr)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        warnings.warn("backward is called", RuntimeWarning, stacklevel=1)
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
