# Returns results of many GB: a 16 GB view of a single number, and 800 MB of tensors in a list.
import torch


def heaviside(x):
    if x.numel() == 8:
        return torch.zeros(1).expand(4 * 10**9)
    return [torch.zeros(10**7) for _ in range(20)]


Heaviside = heaviside
