# A loss that is NaN: every "|got - want| > tolerance" is false for NaN, so a judge that tests
# for a difference instead of for closeness would pass it.
import torch


def mse(Y_hat, Y):
    return torch.tensor(float("nan"), dtype=Y.dtype)
