"""Grader-side references for Lab 5: modules built on PyTorch's own layers, the perceptron
rule written out, input builders, judges and replayable mistakes.

Module builders take the student's constructor arguments and return a module whose
``named_parameters()`` (or plain tensor attributes) come in the order the lab prescribes; the
``module`` check loads the same values into both and compares outputs and gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from deepgrade.engine.labkit import Builder, Inputs

Rule = Callable[..., tuple[torch.Tensor, torch.Tensor]]

# -- modules ----------------------------------------------------------------------------------
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def mlp(
    in_features: int,
    hidden: int,
    out_features: int,
    n_hidden: int = 1,
    activation: str = "relu",
) -> nn.Sequential:
    """Linear, act, (Linear, act) x (n_hidden - 1), Linear, from ``nn.Linear``."""
    act = _ACTIVATIONS[activation]
    layers: list[nn.Module] = [nn.Linear(in_features, hidden), act()]
    for _ in range(n_hidden - 1):
        layers += [nn.Linear(hidden, hidden), act()]
    layers.append(nn.Linear(hidden, out_features))
    return nn.Sequential(*layers)


class TwoLayerNetReference(nn.Module):
    """linear2(relu(linear1(x))) with ``nn.Linear`` layers of the same names."""

    def __init__(self, D_in: int, H: int, D_out: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(D_in, H)
        self.linear2 = nn.Linear(H, D_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear2(torch.relu(self.linear1(x)))
        return out


def two_layer_net(D_in: int, H: int, D_out: int) -> TwoLayerNetReference:
    return TwoLayerNetReference(D_in, H, D_out)


class PerceptronReference(nn.Module):
    """Heaviside(X w + b) with Heaviside(0) = 1; ``weight`` and ``bias`` are plain tensors."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.weight = torch.zeros(in_features)
        self.bias = torch.zeros(())

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        score = X @ self.weight.to(X) + self.bias.to(X)
        return torch.where(score >= 0, 1.0, 0.0).to(X.dtype)


def perceptron(in_features: int) -> PerceptronReference:
    """A fresh perceptron: zero weight and bias."""
    return PerceptronReference(in_features)


def perceptron_on_boundary(in_features: int) -> PerceptronReference:
    """w = [1, -1, 0.5], b = -0.5: rows such as [0.5, 0, 0] score exactly 0 (needs 3 inputs)."""
    model = PerceptronReference(in_features)
    model.weight = torch.tensor([1.0, -1.0, 0.5])
    model.bias = torch.tensor(-0.5)
    return model


class LogisticRegressionReference(nn.Module):
    """sigmoid(linear(X)) with ``linear = nn.Linear(in_features, 1)``; predict at p >= 0.5."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.linear(X)
        return logits.squeeze(-1)

    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(X))

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        return (self.predict_proba(X) >= 0.5).to(torch.int64)


def logistic_regression(in_features: int) -> LogisticRegressionReference:
    return LogisticRegressionReference(in_features)


def logistic_on_boundary(in_features: int) -> LogisticRegressionReference:
    """w = [1, -2, 0.5], b = 0.5: rows such as [0.5, 0.5, 0] have logit 0, p = 0.5 exactly."""
    model = LogisticRegressionReference(in_features)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
        model.linear.bias.fill_(0.5)
    return model


class MaxoutReference(nn.Module):
    """max over p of (x @ weight[p].T + bias[p]), weight [pieces, out, in], bias [pieces, out]."""

    def __init__(self, in_features: int, out_features: int, pieces: int = 2) -> None:
        super().__init__()
        k = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(pieces, out_features, in_features).uniform_(-k, k))
        self.bias = nn.Parameter(torch.empty(pieces, out_features).uniform_(-k, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        affine = [x @ w.T + b for w, b in zip(self.weight, self.bias, strict=True)]
        return torch.stack(affine).max(dim=0).values


def maxout(in_features: int, out_features: int, pieces: int = 2) -> MaxoutReference:
    return MaxoutReference(in_features, out_features, pieces)


# -- the perceptron rule ----------------------------------------------------------------------
def _perceptron_rule(
    doc: str,
    *,
    strict: bool = False,
    sigmoid: bool = False,
    update_bias: bool = True,
    float32_bias: bool = False,
) -> Rule:
    """The rule from zeros, rows in order, with switches that replay one mistake each."""

    def perceptron_train(
        X: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
        b = torch.zeros((), dtype=X.dtype, device=X.device)
        for _ in range(int(epochs)):
            for i in range(X.shape[0]):
                score = float((X[i] * w).sum() + b)
                if sigmoid:
                    y_hat = 1.0 / (1.0 + math.exp(-score))
                else:
                    y_hat = 1.0 if (score > 0 if strict else score >= 0) else 0.0
                error = float(y[i]) - y_hat
                if error != 0:
                    w = w + lr * error * X[i]
                    if update_bias:
                        b = b + lr * error
        return w, b.to(torch.float32) if float32_bias else b

    perceptron_train.__doc__ = doc
    return perceptron_train


perceptron_train = _perceptron_rule(
    "The perceptron rule (COURSE.md): from zeros, rows 0..n-1 each epoch, Heaviside(0) = 1."
)
perceptron_train_sigmoid = _perceptron_rule(
    "Mistake: y_hat = sigmoid(score) instead of the step.", sigmoid=True
)
perceptron_train_frozen_bias = _perceptron_rule("Mistake: b is never updated.", update_bias=False)
perceptron_train_strict = _perceptron_rule(
    "Mistake: y_hat = 1 only when the score is > 0 (Heaviside(0) = 0).", strict=True
)
perceptron_train_float32 = _perceptron_rule(
    "Mistake: w and b start as float32 zeros whatever X's dtype (b then stays float32).",
    float32_bias=True,
)


# -- inputs -----------------------------------------------------------------------------------
def _integer_data(generator: torch.Generator, n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer features in [-3, 3] (exact arithmetic, many scores of exactly 0), random labels.

    The first label is 0, so that the very first step from zeros, where the score is 0 and
    Heaviside(0) = 1, is a mistake.
    """
    X = torch.randint(-3, 4, (n, d), generator=generator).to(torch.float64)
    y = torch.randint(0, 2, (n,), generator=generator).to(torch.float64)
    y[0] = 0.0
    return X, y


def _integer_steps(n: int, d: int, epochs: int, lr: float) -> Builder:
    """``n`` points in ``d``-D with integer coordinates and random labels, for ``epochs``
    epochs at ``lr``.

    The labels are not separable, so the weights keep moving: a change of order, step or
    update shows in the result instead of being washed out by convergence.
    """

    def build(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
        X, y = _integer_data(generator, n, d)
        return [X.to(dtype), y.to(dtype)], {"epochs": epochs, "lr": lr}

    build.__doc__ = (
        f"{n} points in {d}-D with integer coordinates and random labels (not separable), "
        f"{epochs} epochs at lr = {lr:g}."
    )
    return build


perceptron_steps = _integer_steps(12, 3, epochs=3, lr=1.0)
perceptron_steps_noisy = _integer_steps(20, 4, epochs=4, lr=0.5)


def perceptron_one_mistake_epoch(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """7 points of which an epoch makes exactly one mistake and a later one more, 6 epochs.

    Only an epoch without mistakes ends training early: counting the mistakes from -1, or
    stopping after exactly one, ends it too soon here and shows in the result.
    """
    X = torch.tensor([[2, 1], [0, 1], [3, 2], [-2, -1], [-1, 1], [0, 3], [1, 0]], dtype=dtype)
    y = torch.tensor([0, 1, 0, 1, 1, 0, 1], dtype=dtype)
    return [X, y], {"epochs": 6, "lr": 1.0}


def separable_clouds(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """40 points of [0, 4]^2 at least 0.2 from the line x1 + x2 = 4; class 1 above it.

    All points lie in the positive quadrant, so no line through the origin separates the
    classes: the bias must be learned. The rule converges in about 15 epochs; 100 are given.
    """
    points: list[torch.Tensor] = []
    while len(points) < 40:
        p = 4 * torch.rand(2, generator=generator, dtype=torch.float64)
        if abs(float(p.sum()) - 4) / math.sqrt(2) >= 0.2:
            points.append(p)
    X = torch.stack(points)
    y = (X.sum(dim=1) >= 4).to(torch.float64)
    return [X.to(dtype), y.to(dtype)], {"epochs": 100}


def xor(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """The four points of XOR, 50 epochs."""
    X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=dtype)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    return [X, y], {"epochs": 50}


# -- judges -----------------------------------------------------------------------------------
def _training_accuracy(result: Any, args: list[Any]) -> tuple[int, int] | str:
    """(right, n) of Heaviside(X w + b) on the training data, or why it cannot be computed."""
    X, y = args[0], args[1]
    if not isinstance(result, tuple | list) or len(result) != 2:
        return "it should return a pair (w, b)."
    w, b = result
    if not isinstance(w, torch.Tensor) or not isinstance(b, torch.Tensor):
        return "w and b should be tensors."
    if list(w.shape) != [X.shape[1]] or b.dim() != 0:
        return (
            f"w has shape {list(w.shape)} and b shape {list(b.shape)}; expected "
            f"[{X.shape[1]}] and [] (a 0-dim tensor)."
        )
    score = X.detach().cpu().double() @ w.detach().cpu().double() + float(b)
    predicted = (score >= 0).double()
    right = int((predicted == y.detach().cpu().double()).sum())
    return right, X.shape[0]


def all_training_points_right(result: Any, args: list[Any], kwargs: dict[str, Any]) -> str | None:
    """On separable data the rule converges: every training point ends up on its side."""
    outcome = _training_accuracy(result, args)
    if isinstance(outcome, str):
        return outcome
    right, n = outcome
    if right != n:
        return (
            f"after {kwargs.get('epochs')} epochs only {right} of {n} points are classified "
            "right by Heaviside(X @ w + b), but these classes are separable (they need a "
            "bias) and the rule converges on them well within that."
        )
    return None


def not_all_xor_points_right(result: Any, args: list[Any], kwargs: dict[str, Any]) -> str | None:
    """No line solves XOR: whatever (w, b) comes back, some point must stay wrong."""
    outcome = _training_accuracy(result, args)
    if isinstance(outcome, str):
        return outcome
    right, n = outcome
    if right == n:
        return "all four XOR points are right, which no single linear threshold can achieve."
    return None
