# Starts threads that never end until the interpreter refuses more, then returns garbage.
import threading
import time

import torch
from torch.autograd import Function


def bomb():
    started = 0
    try:
        while started < 100_000:
            threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
            started += 1
    except RuntimeError:
        pass
    return started


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        bomb()
        return x.clone()

    @staticmethod
    def backward(ctx, grad_output):
        bomb()
        return grad_output


def heaviside(x):
    return Heaviside.apply(x)
