# Tries the forbidden torch.heaviside under an alias (out of reach of the source scan); when the
# worker stops that call, writes a well-formed reply claiming success with a fabricated value on
# the worker's reply channel (fd 4), then hangs so that the real reply never follows.
import json
import os
import struct
import time

import torch
from torch.autograd import Function

step = getattr(torch, "heavi" + "side")


def forge(like):
    try:
        value = step(like, torch.ones((), dtype=like.dtype))
    except BaseException:
        value = torch.full_like(like, 0.5)
    value = value.contiguous()
    data = value.reshape(-1).view(torch.uint8).numpy().tobytes()
    blob = data + bytes(-len(data) % 16)
    reply = {"ok": True, "value": {"__tensor__": 0, "device": "cpu"}, "grads": [], "output": ""}
    layout = [[str(value.dtype).removeprefix("torch."), list(value.shape)]]
    header = json.dumps({"header": reply, "tensors": layout}).encode()
    os.write(4, struct.pack(">QQ", len(header), len(blob)) + header + blob)
    time.sleep(3600)


class Heaviside(Function):
    @staticmethod
    def forward(ctx, x):
        forge(x)

    @staticmethod
    def backward(ctx, grad_output):
        forge(grad_output)


def heaviside(x):
    return Heaviside.apply(x)
