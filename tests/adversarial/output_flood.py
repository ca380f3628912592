# Prints hundreds of MB at import (through Python and straight to fd 1 and 2) and a few MB in
# every call; the answer itself is right.
import os
import sys

import torch
from torch.autograd import Function

LINE = "flood " * 10_000 + "\n"
for _ in range(2_000):
    print(LINE, end="")
    sys.stderr.write(LINE)
for _ in range(2_000):
    os.write(1, LINE.encode())
    os.write(2, LINE.encode())


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        for _ in range(100):
            print(LINE, end="")
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        for _ in range(100):
            print(LINE, end="")
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
