"""Lab 5's grades as data: the lab, its full marks and its planted bugs (see
test_lab5_grades.py, which proves them; other tests reuse them)."""

from __future__ import annotations

from tests.helpers import GENEROUS, Bug, Lab

FULL = {
    "lab5.Linear": 4.0,
    "lab5.TwoLayerNet": 2.0,
    "lab5.MLP": 4.0,
    "lab5.Perceptron": 2.0,
    "lab5.perceptron_train": 3.0,
    "lab5.LogisticRegression": 3.0,
    "lab5.Maxout": 2.0,
}


# None of these submissions hangs: generous limits keep a busy machine from cutting a check
# short (which would lose points that the bug does not cost).
LAB = Lab("lab5_modules", FULL, settings=GENEROUS)


LINEAR_FORWARD = """        y = x @ self.weight.T
        if self.bias is not None:
            y = y + self.bias
        return y"""


LINEAR_WEIGHT = (
    "        k = 1.0 / math.sqrt(in_features)\n"
    "        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-k, k))\n"
)


LINEAR_BIAS = (
    "        if bias:\n"
    "            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-k, k))\n"
)


LINEAR_NO_BIAS = '        else:\n            self.register_parameter("bias", None)\n'


TRAIN_LOOP = """        for x_i, y_i in zip(rows, labels, strict=True):
            y_hat = 1.0 if (w @ x_i + b).item() >= 0 else 0.0"""


# name -> the replacements in the solution, {exercise: expected score}, expected status, words
#         the exercise's message must contain. Each bug is graded on its exercise only.
BUGS: dict[str, Bug] = {
    # -- Linear: 1.5 forward with bias, 0.75 without, 1.0 init; hidden 0.5 [..., in], 0.25 init
    "Linear weight [in, out] used as x @ W": Bug(
        [
            ("torch.empty(out_features, in_features)", "torch.empty(in_features, out_features)"),
            ("        y = x @ self.weight.T\n", "        y = x @ self.weight\n"),
        ],
        {"lab5.Linear": 1.25},
        "failed",
        ["Linear(5, 3) in float32", "[[5, 3], [3]]", "register weight [out, in] first"],
    ),
    "Linear initialised with randn": Bug(
        [
            (
                ".empty(out_features, in_features).uniform_(-k, k)",
                ".randn(out_features, in_features)",
            )
        ],
        {"lab5.Linear": 2.75},
        "failed",
        ["Linear(400, 300).weight at initialisation", "lie outside [-0.05, 0.05]", "uniform_"],
    ),
    "Linear bound from out_features": Bug(
        [(LINEAR_WEIGHT, LINEAR_WEIGHT.replace("sqrt(in_features)", "sqrt(out_features)"))],
        {"lab5.Linear": 2.75},
        "failed",
        ["Linear(400, 300).weight", "do not look uniform", "in, not out"],
    ),
    "Linear bias is a plain tensor": Bug(
        [
            (
                LINEAR_BIAS,
                LINEAR_BIAS.replace(
                    "nn.Parameter(torch.empty(out_features)", "(torch.empty(out_features)"
                ),
            )
        ],
        {"lab5.Linear": 1.0},
        "failed",
        ["named_parameters() lacks bias", "no parameter named 'bias'"],
    ),
    "Linear bias registered before weight": Bug(
        [
            (
                LINEAR_WEIGHT + LINEAR_BIAS + LINEAR_NO_BIAS,
                LINEAR_WEIGHT.split("\n")[0]
                + "\n"
                + LINEAR_BIAS
                + LINEAR_NO_BIAS
                + LINEAR_WEIGHT.split("\n")[1]
                + "\n",
            )
        ],
        {"lab5.Linear": 2.0},
        "failed",
        ["[[3], [3, 5]]", "weight [out, in] first"],
    ),
    "Linear calls F.linear": Bug(
        [(LINEAR_FORWARD, "        return nn.functional.linear(x, self.weight, self.bias)")],
        {"lab5.Linear": 0.0},
        "forbidden",
        ["nn.functional.linear (torch.nn.functional.linear) called in Linear"],
    ),
    # -- TwoLayerNet: 0.5 linear1 alone, 1.0 forward; hidden 0.5 forward
    "TwoLayerNet without the ReLU": Bug(
        [("self.linear2(torch.relu(self.linear1(x)))", "self.linear2(self.linear1(x))")],
        {"lab5.TwoLayerNet": 0.5},
        "failed",
        ["TwoLayerNet(4, 6, 3)", "same parameter values", "without the ReLU"],
    ),
    # -- MLP: 1.0 per depth/activation, 0.25 ValueError; hidden 0.25 module, 0.5 ValueError
    "MLP layers in a plain list": Bug(
        [
            ("        self.layers = nn.Sequential(*layers)", "        self.layers = layers"),
            (
                "        return self.layers(x)",
                "        for layer in self.layers:\n            x = layer(x)\n        return x",
            ),
        ],
        {"lab5.MLP": 0.75},
        "failed",
        ["parameters() yields 0 tensors", "plain Python list"],
    ),
    "MLP with one hidden layer too many": Bug(
        [("for _ in range(n_hidden - 1):", "for _ in range(n_hidden):")],
        {"lab5.MLP": 0.75},
        "failed",
        ["MLP(4, 6, 3) in float32", "parameters() yields 6 tensors", "(n_hidden - 1)"],
    ),
    "MLP with an activation after the last Linear": Bug(
        [
            (
                "        layers.append(Linear(hidden, out_features))",
                "        layers += [Linear(hidden, out_features), act()]",
            )
        ],
        {"lab5.MLP": 0.75},
        "failed",
        ["same parameter values", "no activation after the last Linear"],
    ),
    "MLP falls back to ReLU for unknown activations": Bug(
        [
            (
                "        if activation not in activations:\n            raise",
                "        if False:\n            raise",
            ),
            ("act = activations[activation]", "act = activations.get(activation, nn.ReLU)"),
        ],
        {"lab5.MLP": 3.5},
        "failed",
        ["activation='gelu'", "expected it to raise a ValueError"],
    ),
    # -- Perceptron: 0.75 float32, 0.5 float64, 0.5 fresh (zeros); hidden 0.25 boundary
    "Perceptron with Heaviside(0) = 0": Bug(
        [
            (
                "        return (X @ w + b >= 0).to(X.dtype)",
                "        return (X @ w + b > 0).to(X.dtype)",
            )
        ],
        {"lab5.Perceptron": 1.25},
        "failed",
        ["Perceptron(3) in float32", "expected 1, got 0", "Heaviside(0) = 1"],
    ),
    "Perceptron returns float32": Bug(
        [
            (
                "        return (X @ w + b >= 0).to(X.dtype)",
                "        return (X @ w + b >= 0).float()",
            )
        ],
        {"lab5.Perceptron": 1.5},
        "failed",
        ["dtype float32, expected float64", "return the result in X.dtype"],
    ),
    # -- perceptron_train: 1.0 rule float32, 0.5 float64, 0.75 converges, 0.25 XOR; hidden 0.5
    #    noisy, 0.5 an epoch with one mistake (3 points over 3.5 of weight, rounded to 6 decimals)
    "perceptron_train predicts with the sigmoid": Bug(
        [
            (
                TRAIN_LOOP,
                TRAIN_LOOP.replace(
                    "1.0 if (w @ x_i + b).item() >= 0 else 0.0", "torch.sigmoid(w @ x_i + b).item()"
                ),
            )
        ],
        {"lab5.perceptron_train": 0.857143},
        "failed",
        ["perceptron_train(", "not with the sigmoid"],
    ),
    "perceptron_train never updates b": Bug(
        [("                b = b + lr * error\n", "")],
        {"lab5.perceptron_train": 0.214286},
        "failed",
        ["update the bias too", "they need a bias"],
    ),
    "perceptron_train shuffles the rows": Bug(
        [
            (
                "        for x_i, y_i in zip(rows, labels, strict=True):\n",
                "        seeded = torch.Generator().manual_seed(0)\n"
                "        order = torch.randperm(len(labels), generator=seeded)\n"
                "        for i in order.tolist():\n"
                "            x_i, y_i = rows[i], labels[i]\n",
            )
        ],
        {"lab5.perceptron_train": 0.857143},
        "failed",
        ["epochs=3", "visit rows 0, 1, ..., n-1 in order"],
    ),
    "perceptron_train starts from float32 zeros": Bug(
        [
            ("torch.zeros(d, device=X.device, dtype=X.dtype)", "torch.zeros(d)"),
            ("torch.zeros((), device=X.device, dtype=X.dtype)", "torch.zeros(())"),
        ],
        {"lab5.perceptron_train": 2.571429},
        "error",
        ["float64", "same dtype"],
    ),
    # -- LogisticRegression: 0.25 linear, 0.75 logits, 0.25 one row, 0.75 proba, 0.5 predict;
    #    hidden 0.25 predict at p = 0.5, 0.25 proba
    "LogisticRegression returns [n, 1]": Bug(
        [("        return self.linear(X).squeeze(-1)", "        return self.linear(X)")],
        {"lab5.LogisticRegression": 0.25},
        "failed",
        ["has shape [6, 1], expected [6]", "squeeze(-1)"],
    ),
    "LogisticRegression squeezes every dimension": Bug(
        [("        return self.linear(X).squeeze(-1)", "        return self.linear(X).squeeze()")],
        {"lab5.LogisticRegression": 2.75},
        "failed",
        ["has shape [], expected [1]", "squeeze() also drops the batch dimension"],
    ),
    "LogisticRegression predicts class 0 at p = 0.5": Bug(
        [("(self.predict_proba(X) >= 0.5)", "(self.predict_proba(X) > 0.5)")],
        {"lab5.LogisticRegression": 2.75},
        "failed",
        ["expected 1, got 0", "not > 0.5"],
    ),
    "LogisticRegression predicts floats": Bug(
        [("(self.predict_proba(X) >= 0.5).long()", "(self.predict_proba(X) >= 0.5).float()")],
        {"lab5.LogisticRegression": 2.25},
        "failed",
        ["dtype float32, expected int64", "int64 class labels"],
    ),
    # -- Maxout: 0.75 two pieces, 0.5 four pieces, 0.25 init; hidden 0.5 three pieces
    "Maxout takes the maximum over the outputs": Bug(
        [("        return z.amax(dim=-2)", "        return z.amax(dim=-1)")],
        {"lab5.Maxout": 0.25},
        "failed",
        ["has shape [6, 2], expected [6, 3]", "maximum over the pieces"],
    ),
    "Maxout reads the weight rows in the wrong layout": Bug(
        [
            (
                "        z = z.reshape(*x.shape[:-1], pieces, out_features) + self.bias\n"
                "        return z.amax(dim=-2)",
                "        z = z.reshape(*x.shape[:-1], out_features, pieces) + self.bias.T\n"
                "        return z.amax(dim=-1)",
            )
        ],
        {"lab5.Maxout": 0.25},
        "failed",
        ["Maxout(5, 3) in float32", "same parameter values", "[pieces, out, in]"],
    ),
}
