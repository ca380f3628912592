# Not an attack: a correct step computed with NumPy building blocks in a thread pool, next to
# calls that are allowed in this exercise (torch.sigmoid). The detector must not trip.
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.autograd import Function

POOL = ThreadPoolExecutor(max_workers=2)


def _step(values):
    return np.where(values >= 0, 1.0, 0.0)


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        torch.sigmoid(x)
        values = POOL.submit(_step, x.detach().cpu().numpy()).result()
        return torch.from_numpy(values).to(device=x.device, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
