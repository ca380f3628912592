# %% [markdown]
# # Lab 1: linear models and gradient descent
#
# The simplest model that learns from data is an affine map: every output is a
# weighted sum of the inputs plus a constant. It is fast, it cannot get stuck in a
# bad local minimum, and it is the baseline every deeper model has to beat. It is
# also exactly what one dense layer of a neural network computes, so everything in
# this lab comes back in the later ones.
#
# We fit such a map in two ways. First in **closed form**: the mean squared error of
# an affine model is a convex quadratic, so its minimiser solves a linear system.
# Then **iteratively**, with gradient descent: start from zeros, compute the gradient
# of the loss, take a small step against it, repeat. The second way is the one that
# scales to neural networks, where no closed form exists.
#
# **What you implement.** `predict` (the affine model), `least_squares` (the closed
# form), `mse` (the loss), `mse_grad` (its gradient, derived by hand), `gd_step` (one
# update), `split` (train / validation / test sets) and `fit_gd` (the training loop,
# full batch or minibatch).
#
# **Conventions (the grader relies on them).**
#
# - Samples are rows. `X` has shape `[n, d]` ($n$ samples, $d$ features) and
#   `Y` has shape `[n, k]` ($k$ outputs). The weights are `W` of shape `[k, d]` and
#   the bias `b` of shape `[k]`, and the model is `X @ W.T + b`, as in PyTorch's
#   `nn.Linear`.
# - `least_squares(X, Y)` appends a column of ones to `X` **as the last column** and
#   solves the least-squares problem with `torch.linalg.lstsq`; it returns `(W, b)`.
# - `mse(Y_hat, Y)` is the mean of the squared differences over **all** $n \cdot k$
#   elements, returned as a 0-dimensional tensor.
# - `mse_grad(X, Y, W, b)` returns `(dW, db)`, the gradient of
#   `mse(predict(X, W, b), Y)`, shaped like `W` and `b`. Because the mean runs over
#   all $N = n k$ elements, the factor in front is $2 / N$.
# - `gd_step(params, grads, lr)` returns a **new** list of **new** tensors
#   $p - \eta\, g$ in the same order; it never modifies its inputs.
# - `split(X, Y, fractions=(0.7, 0.15, 0.15), seed=0)` draws
#   `perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))`,
#   takes `n_train = floor(fractions[0] * n)` and `n_val = floor(fractions[1] * n)`
#   (with `math.floor`), and gives the first `n_train` rows of the permutation to
#   training, the next `n_val` to validation and **all the rest** to test.
# - `fit_gd(X, Y, lr, epochs, batch_size=None, seed=0)` starts from `W` and `b` full
#   of zeros. With `batch_size=None`, each epoch is one step on the whole data set.
#   Otherwise one generator `g = torch.Generator().manual_seed(seed)` is created at
#   the start, each epoch draws `torch.randperm(n, generator=g)` and steps through
#   consecutive slices of `batch_size` indices of it, the last (smaller) slice
#   included. Each step uses your `mse_grad` and `gd_step`. `history` holds, as
#   Python floats, the MSE on the whole `(X, Y)` after each epoch.
# - Your code must work for `float32` and `float64`, on CPU and on CUDA, and return
#   results with the dtype and on the device of the inputs (create new tensors with
#   `device=X.device, dtype=X.dtype`).
#
# **Not allowed** (the grader detects it and gives zero points for the exercise):
# `torch.nn.functional.linear` and `torch.addmm` in `predict`; `torch.linalg.inv`,
# `torch.linalg.pinv` and `torch.inverse` in `least_squares`;
# `torch.nn.functional.mse_loss` in `mse`; autograd (`.backward()`,
# `torch.autograd.grad`) in `mse_grad`. Ordinary tensor arithmetic, `@`, `sum`,
# `mean`, `torch.cat` and `torch.ones` are fine.
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab1_linear.ipynb` in a terminal.

# %%
import math

import torch

# %% tags=["skip-grading"]
import matplotlib.pyplot as plt


def planted_affine_data(n=1000, d=4, k=4, noise=0.0, seed=0, dtype=torch.float64):
    """Data from a hidden affine map: Y = X @ A.T + c (+ Gaussian noise).

    Returns X [n, d], Y [n, k] and the ground truth A [k, d], c [k].
    """
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(k, d, generator=gen, dtype=dtype)
    c = torch.randn(k, generator=gen, dtype=dtype)
    X = torch.randn(n, d, generator=gen, dtype=dtype)
    Y = X @ A.T + c + noise * torch.randn(n, k, generator=gen, dtype=dtype)
    return X, Y, A, c


def relative_error(estimate, truth):
    """Frobenius norm of the difference, relative to the norm of the truth."""
    return (torch.linalg.norm(estimate - truth) / torch.linalg.norm(truth)).item()


# %% [markdown]
# ## 1. The affine model
#
# One sample $x \in \mathbb{R}^d$ is mapped to $k$ outputs,
#
# $$\hat y_j = \sum_{l=1}^{d} W_{jl}\, x_l + b_j, \qquad j = 1, \dots, k,$$
#
# that is $\hat y = W x + b$ with $W \in \mathbb{R}^{k \times d}$. Geometrically each
# output is a hyperplane over the input space: a line when $d = 1$, a plane when
# $d = 2$.
#
# With a batch stacked as the rows of $X \in \mathbb{R}^{n \times d}$, row $i$ of the
# prediction is $W x_i + b$, which is row $i$ of $X W^\top$ plus $b$:
#
# $$\hat Y = X W^\top + \mathbf{1}\, b^\top \in \mathbb{R}^{n \times k}.$$
#
# In PyTorch the bias term is just `+ b`: broadcasting adds the vector `b` of shape
# `[k]` to every row. Do not use `F.linear` or `torch.addmm`, which do the whole job.


# %%
def predict(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Affine model: X [n, d], W [k, d], b [k] -> predictions [n, k]."""
    ### BEGIN SOLUTION
    return X @ W.T + b
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab1.predict")

# %% [markdown]
# ## 2. Least squares in closed form
#
# We measure how far the predictions are from the targets with the mean squared error
# (section 3) and look for the $W, b$ that make it smallest. The bias can be folded
# into the weights: append a column of ones to $X$ and a row $b^\top$ to $W^\top$,
#
# $$\tilde X = \begin{bmatrix} X & \mathbf{1} \end{bmatrix} \in \mathbb{R}^{n \times
# (d+1)}, \qquad
# \Theta = \begin{bmatrix} W^\top \\ b^\top \end{bmatrix} \in \mathbb{R}^{(d+1) \times
# k}, \qquad \hat Y = \tilde X\, \Theta.$$
#
# The loss $\lVert \tilde X \Theta - Y \rVert^2$ is a convex quadratic in $\Theta$,
# so the minimum is where its gradient vanishes. That gives the **normal equations**
# and, when $\tilde X^\top \tilde X$ is invertible, the textbook formula:
#
# $$\tilde X^\top \tilde X\, \Theta = \tilde X^\top Y, \qquad
# \Theta = (\tilde X^\top \tilde X)^{-1} \tilde X^\top Y.$$
#
# **Stability.** Do not compute that inverse. Inverting is slower and less accurate
# than solving, and forming $\tilde X^\top \tilde X$ squares the condition number of
# the problem: in `float32` a badly scaled $X$ can lose all its digits that way.
# `torch.linalg.lstsq(A, B)` solves $\min_\Theta \lVert A \Theta - B \rVert$ directly
# from $A$ (with a QR-type factorisation) and returns a result whose `.solution` has
# shape `[d + 1, k]`. Its first $d$ rows are $W^\top$ and its last row is $b$.
#
# Build the column of ones with the dtype and device of `X`. `torch.linalg.inv`,
# `torch.linalg.pinv` and `torch.inverse` are not allowed.


# %%
def least_squares(X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form least-squares fit of Y [n, k] by an affine map of X [n, d].

    Returns W [k, d] and b [k] minimising the mean squared error of X @ W.T + b.
    """
    ### BEGIN SOLUTION
    n, d = X.shape
    ones = torch.ones(n, 1, dtype=X.dtype, device=X.device)
    X_tilde = torch.cat([X, ones], dim=1)
    theta = torch.linalg.lstsq(X_tilde, Y).solution  # [d + 1, k]
    W = theta[:d].T.contiguous()
    b = theta[d].contiguous()
    return W, b
    ### END SOLUTION


# %% tags=["skip-grading"]
# One input, one output: a noisy line and the least-squares fit through it.
gen = torch.Generator().manual_seed(1)
x_line = 4 * torch.rand(60, 1, generator=gen, dtype=torch.float64) - 2
y_line = 1.5 * x_line - 0.5 + 0.4 * torch.randn(60, 1, generator=gen, dtype=torch.float64)
try:
    W_line, b_line = least_squares(x_line, y_line)
except NotImplementedError:
    print("implement least_squares first, then run this cell again")
else:
    grid = torch.linspace(-2, 2, 2, dtype=torch.float64).unsqueeze(1)
    plt.figure(figsize=(5, 3.5))
    plt.scatter(x_line, y_line, s=12, alpha=0.7, label="data")
    plt.plot(grid, 1.5 * grid - 0.5, "k--", linewidth=1, label="true line y = 1.5x - 0.5")
    plt.plot(
        grid,
        grid * W_line.item() + b_line.item(),
        color="tab:red",
        label=f"least squares y = {W_line.item():.2f}x {b_line.item():+.2f}",
    )
    plt.title("Least-squares line through noisy data")
    plt.xlabel("x")
    plt.ylabel("y")
    plt.legend()
    plt.grid(alpha=0.3)
    plt.tight_layout()
    plt.show()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab1.least_squares")

# %% [markdown]
# ## 3. Mean squared error
#
# The loss averages the squared residuals over every sample **and** every output:
#
# $$\operatorname{MSE}(\hat Y, Y) = \frac{1}{N} \sum_{i=1}^{n} \sum_{j=1}^{k}
# \bigl(\hat Y_{ij} - Y_{ij}\bigr)^2, \qquad N = n\,k.$$
#
# This is PyTorch's `F.mse_loss` with its default `reduction="mean"` (which you may not
# call here). Squaring makes every error count positively and punishes large errors
# much more than small ones. Return a 0-dimensional tensor, not a Python float, so
# that the result keeps its dtype and device.


# %%
def mse(Y_hat: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements, as a 0-dim tensor."""
    ### BEGIN SOLUTION
    return ((Y_hat - Y) ** 2).mean()
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab1.mse")

# %% [markdown]
# ## 4. The gradient of the loss, by hand
#
# Gradient descent needs $\partial L / \partial W$ and $\partial L / \partial b$.
# Derive them once on paper; they are short.
#
# **One sample, one input, one output.** With $\hat y = w x + b$,
#
# $$L(w, b) = (w x + b - y)^2, \qquad
# \frac{\partial L}{\partial w} = 2\,(w x + b - y)\, x, \qquad
# \frac{\partial L}{\partial b} = 2\,(w x + b - y).$$
#
# (Chain rule: the outer square gives $2 r$ with the residual $r = wx + b - y$; the
# inner affine map contributes $\partial r / \partial w = x$ and
# $\partial r / \partial b = 1$.)
#
# **The whole batch.** Write the residuals as $R = \hat Y - Y \in \mathbb{R}^{n \times
# k}$, with $R_{ij} = \sum_l X_{il} W_{jl} + b_j - Y_{ij}$, so that
# $L = \frac{1}{N} \sum_{i,j} R_{ij}^2$. The weight $W_{jl}$ appears only in column $j$
# of $R$, with $\partial R_{ij} / \partial W_{jl} = X_{il}$, and $b_j$ also only there,
# with $\partial R_{ij} / \partial b_j = 1$. Hence
#
# $$\frac{\partial L}{\partial W_{jl}} = \frac{2}{N} \sum_{i=1}^{n} R_{ij}\, X_{il},
# \qquad
# \frac{\partial L}{\partial b_j} = \frac{2}{N} \sum_{i=1}^{n} R_{ij},$$
#
# or, as matrices,
#
# $$\frac{\partial L}{\partial W} = \frac{2}{N}\, R^\top X \;\in \mathbb{R}^{k \times
# d}, \qquad \frac{\partial L}{\partial b} = \frac{2}{N}\, R^\top \mathbf{1}
# \;\in \mathbb{R}^{k}.$$
#
# Each gradient has the shape of its parameter, which is a good check on the order of
# the factors. Remember that $N = n k$, the number of elements the mean runs over,
# not just $n$. No autograd here (no `.backward()`, no `torch.autograd.grad`): the
# point is to compute the gradient yourself. The cell after the code compares it
# with autograd's.


# %%
def mse_grad(
    X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of mse(predict(X, W, b), Y) with respect to W and b: (dW, db)."""
    ### BEGIN SOLUTION
    R = predict(X, W, b) - Y  # [n, k]
    scale = 2.0 / R.numel()
    dW = scale * (R.T @ X)  # [k, d]
    db = scale * R.sum(dim=0)  # [k]
    return dW, db
    ### END SOLUTION


# %% tags=["skip-grading"]
# Your gradient next to autograd's, on a small random problem.
gen = torch.Generator().manual_seed(2)
X_small = torch.randn(5, 3, generator=gen, dtype=torch.float64)
Y_small = torch.randn(5, 2, generator=gen, dtype=torch.float64)
W_small = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
b_small = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
try:
    dW, db = mse_grad(X_small, Y_small, W_small.detach(), b_small.detach())
    ((X_small @ W_small.T + b_small - Y_small) ** 2).mean().backward()
except NotImplementedError:
    print("implement mse_grad first, then run this cell again")
else:
    print("largest difference in dW:", (dW - W_small.grad).abs().max().item())
    print("largest difference in db:", (db - b_small.grad).abs().max().item())

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab1.mse_grad")

# %% [markdown]
# ## 5. One step of gradient descent
#
# The gradient points in the direction in which the loss grows fastest, so a small
# step the other way lowers it. With learning rate $\eta > 0$, every parameter moves as
#
# $$\theta_{t+1} = \theta_t - \eta\, \nabla_\theta L(\theta_t).$$
#
# Too small an $\eta$ and training crawls; too large and the iterates overshoot the
# minimum and blow up.
#
# `gd_step` applies this to a list of parameters with the matching list of gradients
# and returns a new list of new tensors, in the same order. Leave the inputs alone:
# in-place updates such as `p -= lr * g` or `p.sub_(...)` would change tensors the
# caller still holds.


# %%
def gd_step(params: list[torch.Tensor], grads: list[torch.Tensor], lr: float) -> list[torch.Tensor]:
    """Return [p - lr * g for each parameter p and its gradient g], as new tensors."""
    ### BEGIN SOLUTION
    return [p - lr * g for p, g in zip(params, grads, strict=True)]
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab1.gd_step")

# %% [markdown]
# ## 6. Training, validation and test sets
#
# A small loss on the data a model was fitted to says little about new data. So the
# samples are split at random, once, into three parts:
#
# - a **training** set, used to fit the parameters;
# - a **validation** set, used to monitor generalisation during training and to choose
#   hyperparameters (learning rate, number of epochs, model size);
# - a **test** set, kept aside and used once at the very end to estimate how the final
#   model does on data it has never influenced.
#
# The split must be random (data files are often sorted) and reproducible, hence the
# seed. Follow the convention exactly, since the grader reproduces it:
#
# ```
# perm    = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
# n_train = math.floor(fractions[0] * n)
# n_val   = math.floor(fractions[1] * n)
# train   = rows perm[:n_train]
# val     = rows perm[n_train : n_train + n_val]
# test    = rows perm[n_train + n_val :]   (all the rest)
# ```
#
# Use the same rows of `X` and `Y` for each part, so that inputs and targets stay
# paired. The permutation is made on the CPU; move it to the device of `X` before
# indexing.


# %%
def split(
    X: torch.Tensor,
    Y: torch.Tensor,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> tuple[
    tuple[torch.Tensor, torch.Tensor],
    tuple[torch.Tensor, torch.Tensor],
    tuple[torch.Tensor, torch.Tensor],
]:
    """Split (X, Y) at random into ((Xtr, Ytr), (Xva, Yva), (Xte, Yte))."""
    ### BEGIN SOLUTION
    n = X.shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    perm = perm.to(X.device)
    n_train = math.floor(fractions[0] * n)
    n_val = math.floor(fractions[1] * n)
    train = perm[:n_train]
    val = perm[n_train : n_train + n_val]
    test = perm[n_train + n_val :]
    return (X[train], Y[train]), (X[val], Y[val]), (X[test], Y[test])
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab1.split")

# %% [markdown]
# ## 7. Fitting by gradient descent
#
# Now put the pieces together. Start from `W` and `b` full of zeros (in the dtype and
# on the device of `X`) and repeat for `epochs` epochs:
#
# - **Full batch** (`batch_size=None`): one step per epoch, with the gradient on the
#   whole data set.
# - **Minibatch** (`batch_size=B`): every epoch shuffles the samples and makes one step
#   per slice of $B$ of them, so an epoch is $\lceil n / B \rceil$ steps and every
#   sample is used once per epoch. Create **one** generator
#   `g = torch.Generator().manual_seed(seed)` before the loop and draw
#   `perm = torch.randperm(n, generator=g)` at the start of each epoch; the batches are
#   `perm[0:B]`, `perm[B:2B]`, ..., the last one possibly smaller (keep it).
#
# Each step is `mse_grad` on the current batch followed by `gd_step`; use your own
# functions, not autograd or `torch.optim`. At the end of each epoch, append the MSE
# of the current parameters on the **whole** `(X, Y)` to `history`, as a Python float
# (`.item()`).
#
# Small batches give noisy gradients but many cheap steps per epoch; the full batch
# gives the exact gradient but only one step per pass over the data. The noise can
# help a non-convex model escape poor regions, and near the minimum it makes the loss
# jitter unless the learning rate is lowered.
#
# **Choosing the learning rate.** For our loss, the curvature is governed by
# $\frac{2}{N} \tilde X^\top \tilde X$; gradient descent converges when $\eta$ is below
# 2 divided by its largest eigenvalue. With inputs of order one this is a comfortable
# range (the demo below uses 0.5), but inputs in the hundreds, as in the lecture's
# example, would need an $\eta$ thousands of times smaller, and the bias would then
# barely move. Standardising the inputs first is the usual cure.


# %%
def fit_gd(
    X: torch.Tensor,
    Y: torch.Tensor,
    lr: float,
    epochs: int,
    batch_size: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Fit W [k, d], b [k] by (minibatch) gradient descent on the MSE, from zeros.

    Returns (W, b, history) with history[e] the MSE on all of (X, Y) after epoch e.
    """
    ### BEGIN SOLUTION
    n, d = X.shape
    k = Y.shape[1]
    W = torch.zeros(k, d, dtype=X.dtype, device=X.device)
    b = torch.zeros(k, dtype=X.dtype, device=X.device)
    g = torch.Generator().manual_seed(seed)
    history = []
    for _ in range(epochs):
        if batch_size is None:
            dW, db = mse_grad(X, Y, W, b)
            W, b = gd_step([W, b], [dW, db], lr)
        else:
            perm = torch.randperm(n, generator=g).to(X.device)
            for start in range(0, n, batch_size):
                idx = perm[start : start + batch_size]
                dW, db = mse_grad(X[idx], Y[idx], W, b)
                W, b = gd_step([W, b], [dW, db], lr)
        history.append(mse(predict(X, W, b), Y).item())
    return W, b, history
    ### END SOLUTION


# %% [markdown]
# **Recovering a planted map.** As in the lecture, we hide a random $4 \times 4$ matrix
# $A$ and bias $c$, draw 1000 inputs (standard normal here) and set $Y = X A^\top + c$
# without noise. Full-batch gradient descent with $\eta = 0.5$ should find $A$ and $c$
# to a relative error far below $10^{-3}$ within 100 epochs; minibatches of 50 get
# there too, in fewer epochs (but 20 steps per epoch). The loss curves are on a log
# scale: for a quadratic, gradient descent shrinks the error geometrically, which
# shows up as a straight line.

# %% tags=["skip-grading"]
X_aff, Y_aff, A_true, c_true = planted_affine_data()
try:
    W_full, b_full, hist_full = fit_gd(X_aff, Y_aff, lr=0.5, epochs=100)
    W_mini, b_mini, hist_mini = fit_gd(X_aff, Y_aff, lr=0.05, epochs=100, batch_size=50)
except NotImplementedError:
    print("implement fit_gd (and the functions it uses) first, then run this cell again")
else:
    for name, W_fit, b_fit in [
        ("full batch, lr=0.5", W_full, b_full),
        ("batches of 50, lr=0.05", W_mini, b_mini),
    ]:
        print(
            f"{name:24s} relative error of W: {relative_error(W_fit, A_true):.1e}, "
            f"of b: {relative_error(b_fit, c_true):.1e}"
        )
    epochs_axis = range(1, len(hist_full) + 1)
    plt.figure(figsize=(6, 3.5))
    plt.semilogy(epochs_axis, hist_full, label="full batch, lr = 0.5")
    plt.semilogy(epochs_axis, hist_mini, label="batches of 50, lr = 0.05")
    plt.xlabel("epoch")
    plt.ylabel("training MSE")
    plt.title("Gradient descent on a planted affine map (no noise)")
    plt.legend()
    plt.grid(alpha=0.3, which="both")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# **With noise, and held-out data.** Add Gaussian noise of standard deviation 0.5 to the
# targets. The best any model can do is then an MSE of about $0.25$ (the noise
# variance). We split the data, fit on the training part only, compare with the closed
# form, and look at the error on the validation and test parts.

# %% tags=["skip-grading"]
X_noisy, Y_noisy, A_true, c_true = planted_affine_data(noise=0.5, seed=3)
try:
    (X_tr, Y_tr), (X_va, Y_va), (X_te, Y_te) = split(X_noisy, Y_noisy)
    W_gd, b_gd, hist_gd = fit_gd(X_tr, Y_tr, lr=0.5, epochs=100)
    W_ls, b_ls = least_squares(X_tr, Y_tr)
except NotImplementedError:
    print("implement split, fit_gd and least_squares first, then run this cell again")
else:
    print(f"sizes: train {len(X_tr)}, validation {len(X_va)}, test {len(X_te)}")
    gap = relative_error(W_gd, W_ls)
    print(f"relative difference of W, gradient descent vs closed form: {gap:.1e}")
    for name, (Xp, Yp) in [("train", (X_tr, Y_tr)), ("val", (X_va, Y_va)), ("test", (X_te, Y_te))]:
        print(f"{name:5s} MSE: {mse(predict(Xp, W_gd, b_gd), Yp).item():.4f}")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab1.fit_gd")

# %% [markdown]
# ## Wrapping up
#
# You fitted the same affine model twice: in one shot with a least-squares solve, and
# step by step with gradient descent driven by a gradient you derived yourself. For a
# linear model with squared error the closed form is usually the better tool. Gradient
# descent earns its place because it only needs the gradient: the next labs replace
# the affine map by networks with non-linear activations, where no closed form exists,
# and compute that gradient automatically with backpropagation. The learning rate,
# minibatches and the train / validation / test split all carry over unchanged.
