# Parameters initialised to NaN: NaN is neither outside [-k, k] nor far from the uniform law in a
# comparison (every comparison with NaN is false), so a distribution test must reject it first.
import torch
from torch import nn


class Linear(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.full((out_features, in_features), float("nan")))
        if bias:
            self.bias = nn.Parameter(torch.full((out_features,), float("nan")))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        y = x @ self.weight.T
        if self.bias is not None:
            y = y + self.bias
        return y
