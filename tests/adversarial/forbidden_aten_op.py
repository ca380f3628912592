# Calls the ATen operator underneath torch.heaviside directly, by a built name: no PyTorch
# function by that name is called, the dispatch-level detector sees the operator.
import torch
from torch.autograd import Function

packet = getattr(torch.ops.aten, "heavi" + "side")


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        return packet.default(x, torch.ones((), dtype=x.dtype, device=x.device))

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
