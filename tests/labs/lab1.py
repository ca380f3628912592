"""Lab 1's grades as data: the lab, its full marks and its planted bugs (see
test_lab1_grades.py, which proves them; other tests reuse them)."""

from __future__ import annotations

from tests.helpers import Bug, Lab

FULL = {
    "lab1.predict": 1.5,
    "lab1.least_squares": 3.0,
    "lab1.mse": 1.5,
    "lab1.mse_grad": 3.5,
    "lab1.gd_step": 2.0,
    "lab1.split": 3.5,
    "lab1.fit_gd": 5.0,
}


LAB = Lab("lab1_linear", FULL)


LEAST_SQUARES_W = "    W = theta[:d].T.contiguous()\n"


FIT_EPOCH_LOOP = "    for _ in range(epochs):\n        if batch_size is None:"


FIT_BATCHES = "            for start in range(0, n, batch_size):\n"


FIT_HISTORY = "        history.append(mse(predict(X, W, b), Y).item())\n"


# name -> the replacements in the solution, {exercise: expected score}, {exercise: expected
#         status}, words the exercise's message must contain
BUGS: dict[str, Bug] = {
    "predict X @ W + b": Bug(
        [("    return X @ W.T + b\n", "    return X @ W + b\n")],
        {"lab1.predict": 0.0},
        {"lab1.predict": "error"},
        ["predict(randn(5, 3) (seed 1)", "the model is X @ W.T + b", "cannot be multiplied"],
    ),
    "least squares by inverting the normal matrix": Bug(
        [
            (
                "    theta = torch.linalg.lstsq(X_tilde, Y).solution  # [d + 1, k]\n",
                "    theta = torch.linalg.inv(X_tilde.T @ X_tilde) @ X_tilde.T @ Y\n",
            )
        ],
        {"lab1.least_squares": 0.0},
        {"lab1.least_squares": "forbidden"},
        ["inv called in least_squares"],
    ),
    "least squares with W not transposed": Bug(
        [(LEAST_SQUARES_W, "    W = theta[:d].contiguous()\n")],
        {"lab1.least_squares": 0.375},
        {"lab1.least_squares": "failed"},
        ["least_squares(2 * randn(30, 4)", "shape [4, 2], expected [2, 4]", "their transpose"],
    ),
    "mse divides by n, not n * k": Bug(
        [
            (
                "    return ((Y_hat - Y) ** 2).mean()\n",
                "    return ((Y_hat - Y) ** 2).sum() / Y.shape[0]\n",
            )
        ],
        {"lab1.mse": 0.375},
        {"lab1.mse": "failed"},
        ["mse(randn(6, 3) (seed 1)", "3 times the expected", "divide by Y.numel(), not by n"],
    ),
    "mse returns a Python float": Bug(
        [
            (
                "    return ((Y_hat - Y) ** 2).mean()\n",
                "    return ((Y_hat - Y) ** 2).mean().item()\n",
            )
        ],
        {"lab1.mse": 0.75},
        {"lab1.mse": "failed"},
        ["should be a tensor, but it is float", ".item() turns it into a Python float"],
    ),
    "mse detached from the graph": Bug(
        [
            (
                "    return ((Y_hat - Y) ** 2).mean()\n",
                "    return ((Y_hat - Y) ** 2).mean().detach()\n",
            )
        ],
        {"lab1.mse": 1.3125},
        {"lab1.mse": "failed"},
        ["no gradient flows back to the inputs", "still attached to the graph"],
    ),
    "mse_grad with N = n": Bug(
        [("    scale = 2.0 / R.numel()\n", "    scale = 2.0 / R.shape[0]\n")],
        {"lab1.mse_grad": 1.166667},
        {"lab1.mse_grad": "failed"},
        ["mse_grad(randn(6, 3) (seed 1)", "2 times the expected ones", "not 2 / n"],
    ),
    "mse_grad with the sign flipped": Bug(
        [("    R = predict(X, W, b) - Y  # [n, k]\n", "    R = Y - predict(X, W, b)  # [n, k]\n")],
        {"lab1.mse_grad": 0.0},
        {"lab1.mse_grad": "failed"},
        ["mse_grad(tensor([2], shape [1, 1]", "expected 1, got -1", "prediction minus target"],
    ),
    "mse_grad with dW transposed": Bug(
        [("    dW = scale * (R.T @ X)  # [k, d]\n", "    dW = scale * (X.T @ R)  # [k, d]\n")],
        {"lab1.mse_grad": 1.75},
        {"lab1.mse_grad": "failed"},
        ["dW has shape [3, 2], expected [2, 3]", "not X.T @ R"],
    ),
    "mse_grad with a scalar db": Bug(
        [("    db = scale * R.sum(dim=0)  # [k]\n", "    db = scale * R.sum()  # [k]\n")],
        {"lab1.mse_grad": 1.458333},
        {"lab1.mse_grad": "failed"},
        ["db has shape [], expected [2]", "sum the residuals over the samples only"],
    ),
    "mse_grad by autograd": Bug(
        [
            (
                "    R = predict(X, W, b) - Y  # [n, k]\n",
                "    W_ = W.clone().requires_grad_(True)\n"
                "    b_ = b.clone().requires_grad_(True)\n"
                "    mse(predict(X, W_, b_), Y).backward()\n"
                "    return W_.grad, b_.grad\n"
                "    R = predict(X, W, b) - Y  # [n, k]\n",
            )
        ],
        {"lab1.mse_grad": 0.0},
        {"lab1.mse_grad": "forbidden"},
        ["backward called in mse_grad"],
    ),
    "gd_step updates in place": Bug(
        [
            (
                "    return [p - lr * g for p, g in zip(params, grads, strict=True)]\n",
                "    for p, g in zip(params, grads, strict=True):\n"
                "        p -= lr * g\n"
                "    return params\n",
            )
        ],
        {"lab1.gd_step": 1.0},
        {"lab1.gd_step": "failed"},
        ["modified its arguments in place", "the inputs are left untouched"],
    ),
    "split ignores the seed": Bug(
        [
            (
                "    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))\n",
                "    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))\n",
            )
        ],
        {"lab1.split": 2.227273},
        {"lab1.split": "failed"},
        ["seed=7", "not a constant"],
    ),
    "split sizes with round": Bug(
        [
            (
                "    n_train = math.floor(fractions[0] * n)\n"
                "    n_val = math.floor(fractions[1] * n)\n",
                "    n_train = round(fractions[0] * n)\n    n_val = round(fractions[1] * n)\n",
            )
        ],
        {"lab1.split": 2.545455},
        {"lab1.split": "failed"},
        ["training part has 8 rows, expected floor(0.75 * 10) = 7", "math.floor"],
    ),
    "split drops the rows after floor(f * n) test rows": Bug(
        [
            (
                "    test = perm[n_train + n_val :]\n",
                "    n_test = math.floor(fractions[2] * n)\n"
                "    test = perm[n_train + n_val : n_train + n_val + n_test]\n",
            )
        ],
        {"lab1.split": 1.909091},
        {"lab1.split": "failed"},
        ["test part has 1 rows, expected the rest", "every remaining row to test"],
    ),
    "split breaks the X, Y pairs": Bug(
        [
            (
                "    return (X[train], Y[train]), (X[val], Y[val]), (X[test], Y[test])\n",
                "    a, b = len(train), len(train) + len(val)\n"
                "    return (X[train], Y[:a]), (X[val], Y[a:b]), (X[test], Y[b:])\n",
            )
        ],
        {"lab1.split": 0.318182},
        {"lab1.split": "failed"},
        ["pairs sample", "same rows of the permutation"],
    ),
    "fit_gd re-seeds the generator each epoch": Bug(
        [
            (
                FIT_EPOCH_LOOP,
                "    for _ in range(epochs):\n"
                "        g = torch.Generator().manual_seed(seed)\n"
                "        if batch_size is None:",
            )
        ],
        {"lab1.fit_gd": 3.666667},
        {"lab1.fit_gd": "failed"},
        ["batch_size=8, seed=5", "create the generator once"],
    ),
    "fit_gd drops the last partial batch": Bug(
        [(FIT_BATCHES, "            for start in range(0, n - batch_size + 1, batch_size):\n")],
        {"lab1.fit_gd": 4.0},
        {"lab1.fit_gd": "failed"},
        ["batch_size=8", "keep the final slice"],
    ),
    "fit_gd records the loss of the last batch": Bug(
        [
            (
                FIT_HISTORY,
                "        if batch_size is None:\n"
                "            idx = torch.arange(n)\n"
                "        history.append(mse(predict(X[idx], W, b), Y[idx]).item())\n",
            )
        ],
        {"lab1.fit_gd": 4.333333},
        {"lab1.fit_gd": "failed"},
        ["the last history entry", "not on the last batch"],
    ),
    "fit_gd keeps tensors in the history": Bug(
        [(FIT_HISTORY, "        history.append(mse(predict(X, W, b), Y))\n")],
        {"lab1.fit_gd": 4.333333},
        {"lab1.fit_gd": "failed"},
        ["history[0] is a tensor", ".item()"],
    ),
    "fit_gd starts from random weights": Bug(
        [
            (
                "    W = torch.zeros(k, d, dtype=X.dtype, device=X.device)\n",
                "    W = 0.1 * torch.randn(k, d, dtype=X.dtype, device=X.device)\n",
            )
        ],
        {"lab1.fit_gd": 3.0},
        {"lab1.fit_gd": "failed"},
        ["W differs", "start W and b from zeros"],
    ),
}
