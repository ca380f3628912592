# %% [markdown]
# # Lab 3: loss functions
#
# Training a model means choosing parameters $\theta$ that make a number small: the
# loss, averaged over the training set (the *empirical risk*). The loss says what
# "a good prediction" means. For regression it measures how far a real-valued
# prediction is from the target; for classification it compares predicted
# probabilities (or raw scores) with a class label. Its gradient with respect to the
# prediction is where backpropagation starts, so every loss in this lab comes with a
# hand-written backward pass.
#
# **What you implement.**
#
# - Five losses with their gradients: mean squared error, mean absolute error,
#   binary cross-entropy on probabilities, binary cross-entropy on logits, and
#   multi-class cross-entropy on logits.
# - Three helpers without a custom backward: one-hot encoding, the 0-1 loss (the
#   error rate of the argmax rule) and the L1 / L2 penalties used for
#   regularisation.
# - Two derivations by hand with sympy: the gradient of binary cross-entropy with
#   respect to the logit, and the gradient of softmax cross-entropy with respect to
#   all the logits.
#
# **Conventions (the grader relies on them).**
#
# - Each loss with a backward pass is a subclass of `torch.autograd.Function` with
#   static `forward(ctx, prediction, target)` and `backward(ctx, grad_output)`, plus
#   a plain function that calls `.apply` (`MSELoss`/`mse_loss`, `L1Loss`/`l1_loss`,
#   `BCELoss`/`binary_cross_entropy`, `BCEWithLogitsLoss`/
#   `binary_cross_entropy_with_logits`, `CrossEntropyLoss`/`cross_entropy`). The
#   plain functions are given.
# - Every loss returns a **0-dim tensor**: the **mean** of the per-element losses
#   (for `cross_entropy`, the mean over the $n$ rows), like PyTorch's default
#   `reduction="mean"`. Below, $N$ is the number of elements of the prediction
#   (`numel()`), and $n$ the number of rows for cross-entropy.
# - For the element-wise losses the prediction and the target have the same shape
#   and dtype. For `cross_entropy`, `logits` has shape `[n, K]` and `target` holds
#   class indices: shape `[n]`, dtype `int64`, values in $\{0, \dots, K-1\}$. There
#   are no class weights, no `ignore_index` and no label smoothing.
# - `backward` receives $g = \partial L / \partial \text{loss}$ (a 0-dim tensor) and
#   returns two values: the gradient for the prediction (same shape as the
#   prediction) and `None` for the target. Targets are data, not parameters.
# - At a kink, use PyTorch's value: the gradient of $|\hat y - y|$ is
#   $\operatorname{sign}(\hat y - y)$ with $\operatorname{sign}(0) = 0$.
# - Binary cross-entropy on probabilities clamps each logarithm at $-100$, as
#   PyTorch does, so that $p = 0$ or $p = 1$ gives a large finite loss instead of
#   `inf` or `nan`. Its gradient is PyTorch's:
#   $(p - y) / \max\bigl(p(1 - p), 10^{-12}\bigr) / N$. At $p = 0$ or $p = 1$ it
#   is therefore $0$ when $p = y$ and $\pm 10^{12} / N$ when the prediction is
#   exactly wrong (large and finite, never `nan`).
# - `l1_penalty` and `l2_penalty` take a non-empty list of tensors.
# - `one_hot(target, K)` returns an `int64` tensor of shape `[*target.shape, K]`, like
#   `F.one_hot`, and raises a `ValueError` when a class index is outside
#   $\{0, \dots, K-1\}$.
# - `zero_one_loss(logits, target)` returns a 0-dim tensor in the dtype of `logits`.
#   When several logits of a row tie for the maximum, the prediction is the first of
#   them (what `argmax` returns).
# - `l1_penalty(params)` $= \sum |w|$ and `l2_penalty(params)` $= \sum w^2$ run over
#   every element of every tensor in the list: plain sums, the L2 one is **not**
#   halved and has no square root. They are differentiated by autograd (no custom
#   `Function`).
# - Inside each loss `Function` you may **not** call the PyTorch function that
#   solves the exercise: no `F.mse_loss`, `F.l1_loss`, `F.binary_cross_entropy`,
#   `F.binary_cross_entropy_with_logits`, `F.cross_entropy` (nor the `nn.*Loss`
#   modules). In the two logit-based losses, `sigmoid`, `softplus` and `logsigmoid`
#   (in any spelling, `torch.sigmoid` or `x.sigmoid()`) are forbidden too, and in
#   `CrossEntropyLoss` so are `log_softmax`, `softmax`, `logsumexp` and `nll_loss`:
#   subtract the maximum yourself. `one_hot` may not call `F.one_hot`. Building
#   blocks such as `torch.exp`, `torch.log`, `torch.log1p`, `clamp`, `abs`, `sign`,
#   `amax`, `gather`, `scatter` and `torch.where` are fine.
# - Your code must work for `float32` and `float64`, on CPU and on CUDA, and return
#   results with the dtype and on the device of the prediction (create new tensors
#   with `device=x.device, dtype=x.dtype`).
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab3_losses.ipynb` in a terminal.

# %%
import sympy
import torch
from torch.autograd import Function

# %% tags=["skip-grading"]
import matplotlib.pyplot as plt

# %% [markdown]
# ## 1. Mean squared error
#
# The squared error is the classic regression loss (least squares, the Euclidean
# loss of the lecture). Averaged over all $N$ elements:
#
# $$\operatorname{MSE}(\hat y, y) = \frac{1}{N} \sum_{i=1}^{N} (\hat y_i - y_i)^2,
# \qquad
# \frac{\partial\, \operatorname{MSE}}{\partial \hat y_i} = \frac{2}{N}
# (\hat y_i - y_i).$$
#
# Squaring punishes large residuals much more than small ones, so a few outliers
# can dominate the fit. The gradient is proportional to the residual: it fades as
# the prediction approaches the target.
#
# **Backward.** Save the residual $r = \hat y - y$ in `forward`; `backward` returns
# $g \cdot 2 r / N$ for the prediction and `None` for the target. Do not forget the
# factor $1/N$ that comes from the mean.


# %%
class MSELoss(Function):
    """Mean squared error, mean((y_hat - y)**2)."""

    @staticmethod
    def forward(ctx, y_hat, y):
        """Return the mean squared error as a 0-dim tensor; save the residual."""
        raise NotImplementedError("Lab 3: implement MSELoss.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return the gradient for y_hat, and None for y."""
        raise NotImplementedError("Lab 3: implement MSELoss.backward")


def mse_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the prediction y_hat and the target y."""
    return MSELoss.apply(y_hat, y)


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab3.mse_loss")

# %% [markdown]
# ## 2. Mean absolute error
#
# The mean absolute deviation replaces the square by an absolute value:
#
# $$\operatorname{L1}(\hat y, y) = \frac{1}{N} \sum_{i=1}^{N} |\hat y_i - y_i|,
# \qquad
# \frac{\partial\, \operatorname{L1}}{\partial \hat y_i} = \frac{1}{N}
# \operatorname{sign}(\hat y_i - y_i).$$
#
# Every residual pulls with the same strength, whatever its size, which makes this
# loss much less sensitive to outliers than the MSE (minimising it gives a median
# instead of a mean). The price is a kink at a zero residual; as PyTorch does, we
# use $\operatorname{sign}(0) = 0$ there, which is exactly what `torch.sign` returns.


# %%
class L1Loss(Function):
    """Mean absolute error, mean(|y_hat - y|)."""

    @staticmethod
    def forward(ctx, y_hat, y):
        """Return the mean absolute error as a 0-dim tensor; save what backward needs."""
        raise NotImplementedError("Lab 3: implement L1Loss.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return grad_output * sign(y_hat - y) / N (sign(0) = 0), and None for y."""
        raise NotImplementedError("Lab 3: implement L1Loss.backward")


def l1_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between the prediction y_hat and the target y."""
    return L1Loss.apply(y_hat, y)


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab3.l1_loss")

# %% [markdown]
# The figure compares the two regression losses for one target $y = 0$, as a
# function of the prediction, together with the gradients that autograd gets from
# your backward passes (here $N = 1$).


# %% tags=["skip-grading"]
def plot_regression_losses():
    """MSE and L1 for a single prediction against the target 0, with their gradients."""
    y_hat = torch.linspace(-3, 3, 601, dtype=torch.float64)
    target = torch.zeros(1, dtype=torch.float64)
    curves = {}
    try:
        for name, fn in (("MSE", mse_loss), ("L1", l1_loss)):
            losses, grads = [], []
            for value in y_hat:
                p = value.reshape(1).clone().requires_grad_(True)
                loss = fn(p, target)
                loss.backward()
                losses.append(loss.item())
                grads.append(p.grad.item())
            curves[name] = (losses, grads)
    except NotImplementedError:
        print("implement mse_loss and l1_loss first, then run this cell again")
        return
    xs = y_hat.numpy()
    _, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, (losses, grads) in curves.items():
        ax_l.plot(xs, losses, label=name)
        ax_g.plot(xs, grads, label=name)
    ax_l.set_title("loss for the target y = 0")
    ax_g.set_title("gradient with respect to the prediction")
    for ax in (ax_l, ax_g):
        ax.set_xlabel("prediction")
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.grid(alpha=0.3)
        ax.legend()
    plt.show()


plot_regression_losses()

# %% [markdown]
# ## 3. Binary cross-entropy on probabilities
#
# For a binary label $y \in \{0, 1\}$ and a predicted probability
# $p = P(y = 1 \mid x) \in [0, 1]$ (the output of a sigmoid), the loss is the
# negative log-likelihood of a Bernoulli variable:
#
# $$\operatorname{BCE}(p, y) = -\frac{1}{N} \sum_{i=1}^{N}
# \bigl[\, y_i \log p_i + (1 - y_i) \log(1 - p_i) \,\bigr].$$
#
# A correct and confident prediction costs nothing; a confident mistake ($p \to 0$
# while $y = 1$) costs $-\log p \to +\infty$. The formula also accepts soft targets
# $y \in [0, 1]$. Its derivative is
#
# $$\frac{\partial\, \operatorname{BCE}}{\partial p_i} = \frac{1}{N}
# \left( -\frac{y_i}{p_i} + \frac{1 - y_i}{1 - p_i} \right)
# = \frac{1}{N}\, \frac{p_i - y_i}{p_i (1 - p_i)}.$$
#
# **Stability.** At $p = 0$ or $p = 1$ one logarithm is $-\infty$, and
# $0 \cdot (-\infty)$ is `nan`. PyTorch clamps each logarithm at $-100$ *before*
# multiplying by the target, and so do we:
#
# $$\operatorname{BCE}(p, y) = -\frac{1}{N} \sum_{i}
# \bigl[\, y_i \max(\log p_i, -100) + (1 - y_i) \max(\log(1 - p_i), -100) \,\bigr].$$
#
# Compute the second logarithm as `torch.log(1 - p)`, as PyTorch does.
#
# **Backward.** Use the simplified form above, and protect the denominator the
# way PyTorch does: divide by $\max\bigl(p_i (1 - p_i), 10^{-12}\bigr)$. At $p = 0$
# or $1$ the gradient is then $0$ if the prediction is right ($p = y$) and about
# $\pm 10^{12} / N$ if it is exactly wrong: large, finite, never `nan`.


# %%
class BCELoss(Function):
    """Binary cross-entropy between probabilities p and targets y in [0, 1]."""

    @staticmethod
    def forward(ctx, p, y):
        """Return the mean binary cross-entropy, each log clamped at -100."""
        raise NotImplementedError("Lab 3: implement BCELoss.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return (p - y) / max(p (1 - p), 1e-12) / N times grad_output, and None."""
        raise NotImplementedError("Lab 3: implement BCELoss.backward")


def binary_cross_entropy(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of probabilities p against targets y."""
    return BCELoss.apply(p, y)


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab3.binary_cross_entropy")

# %% [markdown]
# ## 4. Binary cross-entropy on logits
#
# In practice the network outputs a raw score, the logit $z$, and the probability is
# $p = \sigma(z)$. Composing a sigmoid with `binary_cross_entropy` works on paper
# but loses precision: for $z = 40$ the sigmoid rounds to exactly 1 and
# $\log(1 - p)$ is clamped at $-100$ instead of being $-40$. Writing the loss
# directly in terms of $z$ avoids this. Since $\log \sigma(z) = -\log(1 + e^{-z})$ and
# $\log(1 - \sigma(z)) = -z - \log(1 + e^{-z})$, the per-element loss is
#
# $$\ell(z, y) = -\bigl[ y \log\sigma(z) + (1 - y) \log(1 - \sigma(z)) \bigr]
# = (1 - y)\, z + \log(1 + e^{-z}).$$
#
# **Stability.** $e^{-z}$ overflows when $z$ is very negative. Rewrite the loss so
# that only $e^{-|z|}$ is ever computed:
#
# $$\ell(z, y) = \max(z, 0) - z\, y + \log\bigl(1 + e^{-|z|}\bigr),$$
#
# with `torch.log1p` for the last term. (Check both signs of $z$: the two formulas
# agree.) The loss is the mean of $\ell$ over the $N$ elements.
#
# **Backward.** The derivative is remarkably simple (you will derive it by hand at
# the end of the lab):
#
# $$\frac{\partial \ell}{\partial z} = \sigma(z) - y,$$
#
# so `backward` returns $g \cdot (\sigma(z) - y) / N$. You may not call
# `torch.sigmoid` here: compute $\sigma(z)$ stably yourself, from $e^{-|z|}$, as in
# Lab 2.


# %%
class BCEWithLogitsLoss(Function):
    """Binary cross-entropy of sigmoid(z) against y, computed from the logits z."""

    @staticmethod
    def forward(ctx, z, y):
        """Return the mean of max(z, 0) - z*y + log1p(exp(-|z|))."""
        raise NotImplementedError("Lab 3: implement BCEWithLogitsLoss.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return grad_output * (sigmoid(z) - y) / N, and None for y."""
        raise NotImplementedError("Lab 3: implement BCEWithLogitsLoss.backward")


def binary_cross_entropy_with_logits(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of sigmoid(z) against y, from the logits z."""
    return BCEWithLogitsLoss.apply(z, y)


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab3.binary_cross_entropy_with_logits")

# %% [markdown]
# Why not simply use the squared error on the probabilities for classification?
# The figure answers for a positive example ($y = 1$). On the left, as a function of
# the predicted probability $p$: the cross-entropy grows without bound as $p \to 0$
# while the squared error $(p - 1)^2$ never exceeds 1. On the right, the gradient
# with respect to the *logit* $z$, which is what reaches the network. With
# cross-entropy it is $\sigma(z) - 1$, close to $-1$ when the model is confidently
# wrong. With the squared error the chain rule adds a factor
# $\sigma'(z) = \sigma(z)(1 - \sigma(z))$, and the gradient vanishes exactly when the
# model is most wrong: the sigmoid saturates and learning stalls.


# %% tags=["skip-grading"]
def plot_bce_versus_mse():
    """BCE and MSE for y = 1: the losses in p, and their gradients in the logit z."""
    probs = torch.linspace(0.001, 0.999, 400, dtype=torch.float64)
    logits = torch.linspace(-8, 8, 401, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    try:
        bce = [binary_cross_entropy(p.reshape(1), one).item() for p in probs]
        mse_p = [mse_loss(p.reshape(1), one).item() for p in probs]
        grad_bce, grad_mse = [], []
        for z in logits:
            z1 = z.reshape(1).clone().requires_grad_(True)
            binary_cross_entropy_with_logits(z1, one).backward()
            grad_bce.append(z1.grad.item())
            z2 = z.reshape(1).clone().requires_grad_(True)
            # torch.sigmoid is fine here: this cell only draws a picture.
            mse_loss(torch.sigmoid(z2), one).backward()
            grad_mse.append(z2.grad.item())
    except NotImplementedError:
        print(
            "implement mse_loss, binary_cross_entropy and "
            "binary_cross_entropy_with_logits first, then run this cell again"
        )
        return
    _, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_l.plot(probs.numpy(), bce, label="binary cross-entropy")
    ax_l.plot(probs.numpy(), mse_p, label="squared error")
    ax_l.set_title("loss for y = 1")
    ax_l.set_xlabel("predicted probability p")
    ax_l.set_ylim(0, 5)
    ax_g.plot(logits.numpy(), grad_bce, label="cross-entropy on logits")
    ax_g.plot(logits.numpy(), grad_mse, label="squared error on sigmoid(z)")
    ax_g.set_title("gradient with respect to the logit, y = 1")
    ax_g.set_xlabel("logit z")
    for ax in (ax_l, ax_g):
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.grid(alpha=0.3)
        ax.legend()
    plt.show()


plot_bce_versus_mse()

# %% [markdown]
# ## 5. Cross-entropy for $K$ classes
#
# With $K$ classes the network outputs one logit per class, a row
# $z \in \mathbb{R}^K$ per example, and softmax turns it into probabilities
# $p_j = e^{z_j} / \sum_{m} e^{z_m}$. With the target encoded one-hot (a vector of
# zeros with a single 1 at the true class $k$), the cross-entropy
# $-\sum_j y_j \log p_j$ keeps a single term: minus the log-probability of the true
# class. Written with the logits,
#
# $$\ell(z, k) = -\log \operatorname{softmax}(z)_k
# = -z_k + \log \sum_{j=1}^{K} e^{z_j},$$
#
# and `cross_entropy(logits, target)` is the mean of $\ell$ over the $n$ rows.
# `target` holds the class indices (`int64`, shape `[n]`), not one-hot vectors.
#
# **Stability.** $\log \sum_j e^{z_j}$ overflows for logits around $10^4$. With
# $m = \max_j z_j$,
#
# $$\log \sum_{j} e^{z_j} = m + \log \sum_{j} e^{z_j - m},$$
#
# where every exponent is $\le 0$ and the largest term equals 1, so the sum lies in
# $[1, K]$ and the logarithm is safe. The log-probabilities are then
# $\log p_j = (z_j - m) - \log \sum_m e^{z_m - m}$. `torch.logsumexp`,
# `torch.log_softmax` and `torch.softmax` do this for you, which is why they are
# forbidden: write the max subtraction yourself. Pick out the true class of each row
# with `gather` (or advanced indexing).
#
# **Backward.** For one row, the derivative of $\ell$ with respect to $z_i$ is
#
# $$\frac{\partial \ell}{\partial z_i} = p_i - [\,i = k\,],$$
#
# the predicted probabilities minus the one-hot target. For the mean over $n$ rows,
# `backward` returns $g \cdot (\operatorname{softmax}(z) - \operatorname{onehot}) / n$.
# Save the probabilities (the exponential of the log-probabilities) in `forward`.
# The code must also work for a single class ($K = 1$, where the loss and its
# gradient are 0) and for many ($K = 1000$).


# %%
class CrossEntropyLoss(Function):
    """Mean softmax cross-entropy of logits [n, K] against class indices [n]."""

    @staticmethod
    def forward(ctx, logits, target):
        """Return the mean over rows of -log softmax(logits)[row, target[row]]."""
        raise NotImplementedError("Lab 3: implement CrossEntropyLoss.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return grad_output * (softmax(logits) - onehot(target)) / n, and None."""
        raise NotImplementedError("Lab 3: implement CrossEntropyLoss.backward")


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits [n, K] against int64 class indices [n]."""
    return CrossEntropyLoss.apply(logits, target)


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab3.cross_entropy")

# %% [markdown]
# Your loss is an ordinary PyTorch operation now, so it can train a model. The cell
# below fits a linear classifier $z = x W^\top + b$ to three Gaussian blobs in the
# plane with plain gradient descent, calling only your `cross_entropy` and
# autograd. The loss should fall steadily.


# %% tags=["skip-grading"]
def train_three_blobs(steps=200, lr=0.5):
    """Gradient descent on a linear softmax classifier, with the cross_entropy above."""
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
    labels = torch.arange(3).repeat_interleave(100)
    X = centres[labels] + 0.8 * torch.randn(300, 2, generator=gen)
    W = torch.zeros(3, 2, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    try:
        for step in range(steps + 1):
            loss = cross_entropy(X @ W.T + b, labels)
            if step % 50 == 0:
                print(f"step {step:3d}: cross-entropy {loss.item():.4f}")
            loss.backward()
            with torch.no_grad():
                for param in (W, b):
                    param -= lr * param.grad
                    param.grad = None
    except NotImplementedError:
        print("implement cross_entropy first, then run this cell again")


train_three_blobs()

# %% [markdown]
# ## 6. One-hot encoding
#
# The one-hot code of a class index $k \in \{0, \dots, K-1\}$ is the vector of
# length $K$ with a 1 at position $k$ and 0 elsewhere; with $K = 4$, class 2 becomes
# $(0, 0, 1, 0)$. `one_hot(target, K)` encodes a whole tensor of indices at once,
# exactly like `F.one_hot`:
#
# - the result has shape `[*target.shape, K]` (for a batch `[n]`, that is `[n, K]`)
#   and dtype `int64`, on the device of `target`;
# - an index outside $\{0, \dots, K-1\}$ raises a `ValueError` (check the range
#   before encoding).
#
# A neat way is to compare `target` (with a new last dimension) against
# `torch.arange(K)` and let broadcasting do the rest. `F.one_hot` is not allowed.


# %%
def one_hot(target: torch.Tensor, K: int) -> torch.Tensor:
    """int64 one-hot encoding of class indices, shape [*target.shape, K]."""
    raise NotImplementedError("Lab 3: implement one_hot")


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab3.one_hot")

# %% [markdown]
# ## 7. The 0-1 loss
#
# The loss we really care about in classification counts mistakes: 1 if the
# predicted class differs from the true one, 0 otherwise. A classifier that outputs
# scores predicts the class with the largest score (the argmax rule; with softmax
# probabilities this is the maximum a posteriori decision). Averaged over the $n$
# rows, the 0-1 loss is the **error rate**:
#
# $$\frac{1}{n} \sum_{i=1}^{n} \mathbf 1\bigl[\, \operatorname{argmax}_j z_{ij}
# \neq k_i \,\bigr].$$
#
# It is piecewise constant in the logits, so its gradient is zero almost everywhere
# and it cannot be trained by gradient descent. This is why we train with the
# cross-entropy, a smooth surrogate, and use the 0-1 loss to *report* results.
#
# `zero_one_loss(logits, target)` takes logits `[n, K]` and class indices `[n]`, and
# returns a 0-dim tensor in the dtype of `logits`. Ties go to the first maximal
# index, which is what `argmax` returns.


# %%
def zero_one_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose argmax differs from the target, in logits' dtype."""
    raise NotImplementedError("Lab 3: implement zero_one_loss")


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab3.zero_one_loss")

# %% [markdown]
# ## 8. L1 and L2 penalties
#
# To keep a model from fitting the noise of its training set, we can add a penalty
# on the size of its parameters to the loss, weighted by a coefficient $\lambda$:
# the gradient step becomes
#
# $$\theta \leftarrow \theta - \eta\, \nabla_\theta \bigl[ \mathcal L(\theta) +
# \lambda R(\theta) \bigr].$$
#
# The two usual choices are
#
# $$R_1(\theta) = \sum_j |\theta_j| \quad\text{(L1, as in the LASSO)}, \qquad
# R_2(\theta) = \sum_j \theta_j^2 \quad\text{(L2, as in ridge regression)},$$
#
# where the sums run over every element of every parameter tensor. The L2 penalty
# shrinks all weights in proportion to their size (its gradient is $2\theta$); the L1
# penalty pulls each weight towards zero with constant strength ($\operatorname{sign}
# \theta$) and tends to make many of them exactly zero.
#
# `l1_penalty(params)` and `l2_penalty(params)` take a list of tensors and return a
# 0-dim tensor: a plain sum, with no mean, no factor $\tfrac12$ and no square root.
# No custom `Function` this time: build the result from differentiable tensor
# operations so that autograd can take its gradient (at $\theta_j = 0$ autograd
# uses $\operatorname{sign}(0) = 0$ for the L1 penalty).


# %%
def l1_penalty(params: list[torch.Tensor]) -> torch.Tensor:
    """Sum of |w| over every element of every tensor in params."""
    raise NotImplementedError("Lab 3: implement l1_penalty")


def l2_penalty(params: list[torch.Tensor]) -> torch.Tensor:
    """Sum of w**2 over every element of every tensor in params (not halved)."""
    raise NotImplementedError("Lab 3: implement l2_penalty")


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab3.l1_penalty")
check("lab3.l2_penalty")

# %% [markdown]
# ## Derivations
#
# Finally, the two gradients that make cross-entropy so convenient, derived by
# hand. Each function receives sympy symbols and returns sympy expressions that
# **you derived yourself**; any correct form is accepted.
#
# - `d_bce_with_logits(z, y)`: the derivative with respect to $z$ of the
#   per-example loss
#   $-\bigl[ y \log\sigma(z) + (1 - y) \log(1 - \sigma(z)) \bigr]$, with
#   $\sigma(z) = 1 / (1 + e^{-z})$. Hint: $\sigma'(z) = \sigma(z)(1 - \sigma(z))$,
#   so $(\log \sigma)' = 1 - \sigma$ and $(\log(1 - \sigma))' = -\sigma$.
# - `d_softmax_cross_entropy(z, k)`: `z` is a list of $K$ sympy symbols (the logits
#   of one example) and `k` an `int`, the index of the true class in that list
#   (counted from 0). Return the list of the $K$ partial derivatives
#   $\partial \ell / \partial z_i$, $i = 0, \dots, K-1$, of
#   $\ell = -\log \operatorname{softmax}(z)_k = -z_k + \log \sum_j e^{z_j}$.
#
# The grader compares your expressions with its own derivatives symbolically; if
# sympy cannot decide, it compares their values at a few points. Since the exercise
# is the derivation itself, `sympy.diff` (and any other way of letting sympy
# differentiate for you) is not allowed. Use `sympy.exp`, `sympy.log` and ordinary
# arithmetic.


# %%
def d_bce_with_logits(z: sympy.Symbol, y: sympy.Symbol) -> sympy.Expr:
    """d/dz of -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))], derived by hand."""
    raise NotImplementedError("Lab 3: implement d_bce_with_logits")


def d_softmax_cross_entropy(z: list[sympy.Symbol], k: int) -> list[sympy.Expr]:
    """The K partial derivatives of -log softmax(z)[k] with respect to z[0..K-1]."""
    raise NotImplementedError("Lab 3: implement d_softmax_cross_entropy")


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab3.d_bce_with_logits")
check("lab3.d_softmax_cross_entropy")

# %% [markdown]
# ## Wrapping up
#
# You now have the standard losses of supervised learning, each with a gradient you
# wrote yourself. Two ideas keep coming back. First, the gradient of a well-matched
# loss and output layer is simply *prediction minus target*: $2(\hat y - y)/N$ for the
# squared error, $\sigma(z) - y$ for binary cross-entropy on a logit,
# $\operatorname{softmax}(z) - \operatorname{onehot}(k)$ for $K$ classes. Second,
# numerical stability is again a matter of never exponentiating a large positive
# number (subtract the maximum, use $e^{-|z|}$) and of guarding logarithms near 0.
# The 0-1 loss measures what we want but cannot be trained directly, and the L1 and
# L2 penalties are the first regularisers you can add to any of these losses. The
# next lab takes the gradient back from the loss through the whole network.
