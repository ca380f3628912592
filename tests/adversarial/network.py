# Connects to a server the test runs on this machine (@PORT@ is filled in at test time) to
# send out its inputs; the answer itself is right.
import socket

import torch
from torch.autograd import Function


def leak(x):
    with socket.create_connection(("127.0.0.1", @PORT@), timeout=1) as connection:
        connection.sendall(repr(x.tolist()).encode())


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        leak(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
