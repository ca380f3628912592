# %% [markdown]
# # Lab 6: optimisation and training
#
# Training a network means repeating one small recipe many times: take a batch of
# examples, run the model on it, measure the loss, let autograd compute the gradient
# of the loss with respect to every parameter, and move the parameters a little
# against that gradient. In earlier labs you wrote the pieces (models, activations,
# losses, gradients). This lab is about the recipe itself: the optimisers that turn a
# gradient into an update, the loop that feeds them batches, and the bookkeeping
# around it (validation, early stopping). At the end you use your own tools to train
# three small networks.
#
# **What you implement.**
#
# 1. `SGD`: stochastic gradient descent with optional momentum and weight decay;
# 2. `Adam`: the adaptive optimiser most networks are trained with today;
# 3. `minibatches`: cut a data set into shuffled batches;
# 4. `train_epoch`: one pass over the training batches;
# 5. `evaluate`: the mean loss on batches, without training;
# 6. `fit`: several epochs with a validation set and early stopping;
# 7. three training tasks, graded by what the trained model achieves:
#    `train_affine` (recover an affine map), `train_sine` (regress a smooth function
#    of two variables) and `train_xor` (the XOR problem).
#
# **Conventions (the grader relies on them).**
#
# - `SGD(params, lr, momentum=0.0, weight_decay=0.0)` and
#   `Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)` are plain Python classes (they
#   do not subclass `torch.optim.Optimizer`). The constructor stores
#   `self.params = list(params)` (so a generator such as `model.parameters()` is fine)
#   and the hyperparameters as attributes of the same names (`self.lr`,
#   `self.momentum`, `self.weight_decay`, `self.betas`, `self.eps`). `step()` reads
#   `self.lr` every time it runs, so the learning rate can be changed between steps.
# - `step()` updates each parameter **in place** (the tensors of the model must change,
#   not be replaced) and runs under `torch.no_grad()`. A parameter whose `.grad` is
#   `None` is left alone, and its optimiser state does not advance. The updates are
#   exactly those of `torch.optim.SGD` and `torch.optim.Adam` with the same arguments
#   (formulas in each section); the grader runs both side by side for many steps.
# - `zero_grad()` sets every parameter's `.grad` to `None` (what PyTorch does by default).
# - `minibatches(X, Y, batch_size, shuffle=True, generator=None)` visits the rows in
#   the order `torch.randperm(n, generator=generator)` when shuffling, and `0, 1, ..., n-1`
#   otherwise; the last batch may be smaller; it is kept.
# - `train_epoch` and `evaluate` return the **mean of the per-batch losses** as a Python
#   `float` (each batch counts once, whatever its size).
# - `fit` keeps the weights of the epoch with the **strictly** lowest validation loss and
#   puts them back into the model before returning.
# - The three tasks each start with `torch.manual_seed(0)`, build their model in the
#   dtype and on the device of `X`, train it with **your** `SGD` or `Adam`,
#   `minibatches` and `train_epoch`, and return `(model, history)` where `history` is
#   the list of training losses, one Python float per epoch. The grader trains under a
#   time budget of about 20 seconds per task: aim for a few seconds.
# - Your code must work for `float32` and `float64`, on CPU and on CUDA.
#
# **Not allowed.** The optimisers of `torch.optim` (`torch.optim.SGD`,
# `torch.optim.Adam`, and every other class there) and their functional versions
# (`torch.optim._functional`, `torch.optim.sgd.sgd`, `torch.optim.adam.adam`): the grader
# reports them as a forbidden API, with zero points for that exercise, and the tasks
# must use your optimisers too. Everything else in PyTorch is fine here: `nn.Linear`,
# `nn.Sequential`, `nn.Tanh`, `nn.MSELoss`, `nn.BCEWithLogitsLoss`, and autograd
# (`loss.backward()`) to compute the gradients.
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab6_training.ipynb` in a terminal.

# %%
import copy
import math

import torch
from torch import nn

# %% [markdown]
# ### Data for the tasks (given)
#
# Three small data sets, each drawn from its own seeded generator so that every run
# gives the same numbers:
#
# - `make_affine_data(n=1000, seed=0)`: as in the first lecture, a random $4 \times 4$
#   matrix $A$ (entries uniform in $[-1, 1]$), a random bias $c$ (uniform in
#   $[-50, 50]$), inputs uniform in $[0, 100]^4$ and exact targets $Y = X A^\top + c$.
#   Returns `(X, Y, A, c)`, so you can compare what you learn with the truth.
# - `make_sine_data(n=2000, seed=0)`: inputs uniform in $[-1, 1]^2$ and targets
#   $f(x_1, x_2) = \sin(\pi x_1) / (x_2^2 + 1)$, shaped `[n, 1]`. Returns `(X, Y)`.
# - `make_xor_data(repeat=25)`: the four points of XOR, each repeated `repeat` times,
#   with labels 0 or 1 as floats, shaped `[4 * repeat, 1]`. Returns `(X, Y)`.
#
# `relative_error(Y_hat, Y)` is $\lVert \hat Y - Y \rVert / \lVert Y \rVert$ (Frobenius
# norms), the measure the affine task is graded with.


# %%
def make_affine_data(n: int = 1000, seed: int = 0):
    """Inputs in [0, 100]^4 and exact targets X @ A.T + c; returns (X, Y, A, c)."""
    g = torch.Generator().manual_seed(seed)
    A = 2 * torch.rand(4, 4, generator=g) - 1
    c = 100 * torch.rand(4, generator=g) - 50
    X = 100 * torch.rand(n, 4, generator=g)
    return X, X @ A.T + c, A, c


def sine_target(X: torch.Tensor) -> torch.Tensor:
    """f(x1, x2) = sin(pi x1) / (x2^2 + 1), one row per input, shaped [n, 1]."""
    return torch.sin(math.pi * X[:, :1]) / (X[:, 1:2] ** 2 + 1)


def make_sine_data(n: int = 2000, seed: int = 0):
    """Inputs uniform in [-1, 1]^2 and their targets sine_target(X); returns (X, Y)."""
    g = torch.Generator().manual_seed(seed)
    X = 2 * torch.rand(n, 2, generator=g) - 1
    return X, sine_target(X)


def make_xor_data(repeat: int = 25):
    """The four XOR points, each repeated `repeat` times; returns (X [4r, 2], Y [4r, 1])."""
    points = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    return points.repeat(repeat, 1), labels.repeat(repeat, 1)


def relative_error(Y_hat: torch.Tensor, Y: torch.Tensor) -> float:
    """||Y_hat - Y|| / ||Y|| as a Python float."""
    return float((Y_hat - Y).norm() / Y.norm())


# %% tags=["skip-grading"]
import matplotlib.pyplot as plt

# %% [markdown]
# ## 1. Stochastic gradient descent
#
# Gradient descent moves the parameters $\theta$ a step of size $\eta$ (the learning
# rate) against the gradient of the loss:
#
# $$\theta \leftarrow \theta - \eta\, \nabla_\theta L(\theta).$$
#
# *Stochastic* gradient descent computes that gradient on a small batch of examples
# rather than the whole data set: each step is cheaper and a little noisy. The
# optimiser itself does not see the data: `loss.backward()` has already stored the
# gradient in each parameter's `.grad`, and `step()` only has to read it.
#
# **Weight decay.** Adding the penalty $\frac{\lambda}{2} \lVert \theta \rVert^2$ to
# the loss (L2 regularisation, or ridge) adds $\lambda \theta$ to its gradient. PyTorch
# does exactly that with `weight_decay` $= \lambda$: the gradient used is
#
# $$g = \nabla_\theta L + \lambda\, \theta.$$
#
# **Momentum.** Plain SGD zigzags in narrow valleys and crawls on flat stretches. With
# momentum $\mu$, the optimiser keeps a running sum of past gradients, a *buffer* $b$
# per parameter, and steps along it instead:
#
# $$b_1 = g_1, \qquad b_t = \mu\, b_{t-1} + g_t, \qquad \theta \leftarrow \theta - \eta\, b_t.$$
#
# Gradients that keep the same sign add up (up to a factor $1 / (1 - \mu)$, so 10 for
# $\mu = 0.9$); gradients that flip sign cancel. The buffer starts as a **copy** of the
# first gradient, and it belongs to one parameter for the whole run, so keep one per
# parameter (for instance in a list with the same order as `self.params`). With
# `momentum=0` there is no buffer and the step is $\theta \leftarrow \theta - \eta g$.
#
# **In place, without autograd.** The update must change the parameter tensors
# themselves (`p.add_(...)`, `p -= ...`): the model holds references to them, so
# `p = p - lr * g` would only rebind a local name. And an in-place change of a leaf
# tensor that requires gradients is only allowed when autograd is switched off, which
# is the job of `with torch.no_grad():`.


# %%
class SGD:
    """Stochastic gradient descent with optional momentum and weight decay."""

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        """Store the parameters as a list, the hyperparameters, and room for momentum."""
        ### BEGIN SOLUTION
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.buffers = [None] * len(self.params)
        ### END SOLUTION

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        ### BEGIN SOLUTION
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                g = p.grad
                if self.weight_decay != 0:
                    g = g.add(p, alpha=self.weight_decay)
                if self.momentum != 0:
                    if self.buffers[i] is None:
                        self.buffers[i] = g.clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(g)
                    g = self.buffers[i]
                p.add_(g, alpha=-self.lr)
        ### END SOLUTION

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to None."""
        ### BEGIN SOLUTION
        for p in self.params:
            p.grad = None
        ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab6.SGD")

# %% [markdown]
# ## 2. Adam
#
# A single learning rate suits all parameters only if the loss is about equally steep
# in every direction, which is rarely the case. Adam adapts the step to each entry of
# each parameter. It keeps two running averages per parameter: $m$, of the gradients
# (a momentum term), and $v$, of the squared gradients (a measure of their size).
# At step $t = 1, 2, \dots$ (counted per parameter), with $g$ the gradient:
#
# $$m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g, \qquad
# v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g^2, \qquad m_0 = v_0 = 0,$$
#
# $$\hat m_t = \frac{m_t}{1 - \beta_1^{\,t}}, \qquad
# \hat v_t = \frac{v_t}{1 - \beta_2^{\,t}}, \qquad
# \theta \leftarrow \theta - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \varepsilon}.$$
#
# All operations are element-wise ($g^2$ squares each entry). Since $\hat m_t$ and
# $\sqrt{\hat v_t}$ have the same scale, every entry moves by roughly $\eta$ per step,
# whatever the size of its gradient: steep and flat directions advance at similar
# speeds.
#
# **Bias correction.** The averages start at zero, so in the first steps they are too
# small: after one step $m_1 = (1 - \beta_1) g$, a tenth of the gradient for
# $\beta_1 = 0.9$. Dividing by $1 - \beta^t$ undoes exactly that shrinkage
# ($\hat m_1 = g$), and the correction fades as $t$ grows.
#
# **Details that matter for matching PyTorch.** $\varepsilon$ is added to
# $\sqrt{\hat v_t}$, after the square root and after the bias correction, and it is
# there only to avoid dividing by zero. The step count $t$ belongs to each parameter:
# a parameter skipped because its `.grad` is `None` does not advance its count.


# %%
class Adam:
    """Adam: per-entry step sizes from running averages of the gradient and its square."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        """Store the parameters as a list, the hyperparameters, and room for m, v and t."""
        ### BEGIN SOLUTION
        self.params = list(params)
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.steps = [0] * len(self.params)
        self.m = [None] * len(self.params)
        self.v = [None] * len(self.params)
        ### END SOLUTION

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        ### BEGIN SOLUTION
        beta1, beta2 = self.betas
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                g = p.grad
                if self.m[i] is None:
                    self.m[i] = torch.zeros_like(p)
                    self.v[i] = torch.zeros_like(p)
                self.steps[i] += 1
                t = self.steps[i]
                m, v = self.m[i], self.v[i]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                p.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))
        ### END SOLUTION

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to None."""
        ### BEGIN SOLUTION
        for p in self.params:
            p.grad = None
        ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab6.Adam")

# %% [markdown]
# ## 3. Minibatches
#
# Between one example per step (very noisy, and slow in Python) and the whole data set
# per step (exact but expensive, and a single step per pass) lies the usual choice: a
# **minibatch** of a few dozen to a few hundred examples. One pass over all the batches
# is an **epoch**.
#
# Shuffling before each epoch matters: if the data are sorted (by class, by time),
# consecutive batches are not representative of the whole set and the updates pull
# in turn in different directions.
#
# `minibatches(X, Y, batch_size, shuffle=True, generator=None)` is a Python generator
# (a function with `yield`) that yields pairs `(xb, yb)` of matching rows:
#
# - the order of the rows is `torch.randperm(n, generator=generator)` when `shuffle` is
#   true, and `0, 1, ..., n - 1` otherwise; the grader compares your batches with this
#   order, so draw exactly one permutation per call;
# - batches are consecutive slices of that order, of size `batch_size`; the last one
#   holds the remaining `n % batch_size` rows when `n` is not a multiple (it is kept,
#   not dropped);
# - the permutation lives on the CPU; move it to the device of `X` before indexing.


# %%
def minibatches(
    X: torch.Tensor, Y: torch.Tensor, batch_size: int, shuffle: bool = True, generator=None
):
    """Yield (xb, yb) batches of matching rows of X and Y, in shuffled or natural order."""
    ### BEGIN SOLUTION
    n = X.shape[0]
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(X.device)
    for start in range(0, n, batch_size):
        rows = order[start : start + batch_size]
        yield X[rows], Y[rows]
    ### END SOLUTION


# %% tags=["skip-grading"]
try:
    sizes = [len(xb) for xb, _ in minibatches(torch.arange(10.0)[:, None], torch.zeros(10, 1), 4)]
    print("batch sizes for n = 10, batch_size = 4:", sizes)
except NotImplementedError:
    print("implement minibatches first, then run this cell again")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab6.minibatches")

# %% [markdown]
# ## 4. One epoch of training
#
# Every training step follows the same five lines:
#
# 1. `optimizer.zero_grad()`: forget the previous gradients. PyTorch **adds** each new
#    gradient to `.grad`, so without this line every step would use the sum of all the
#    gradients since the start;
# 2. `pred = model(xb)`: the forward pass, which records the graph of operations;
# 3. `loss = loss_fn(pred, yb)`: a scalar;
# 4. `loss.backward()`: backpropagation fills every parameter's `.grad`;
# 5. `optimizer.step()`: update the parameters from those gradients.
#
# The order is not negotiable: a step before `backward` uses stale (or missing)
# gradients.
#
# `train_epoch(model, batches, loss_fn, optimizer)` first puts the model in training
# mode with `model.train()` (layers such as dropout behave differently in training and
# evaluation), runs the five steps on each batch, and returns the mean of the batch
# losses as a Python float. Accumulate `loss.item()`, never the tensor `loss` itself:
# a sum of tensors keeps every batch's graph alive, so memory grows with each step,
# and the result would not be a float.


# %%
def train_epoch(model: nn.Module, batches, loss_fn, optimizer) -> float:
    """One optimiser step per batch; return the mean batch loss as a float."""
    ### BEGIN SOLUTION
    model.train()
    total, count = 0.0, 0
    for xb, yb in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item()
        count += 1
    return total / count if count else math.nan
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab6.train_epoch")

# %% [markdown]
# ## 5. Evaluation
#
# To measure a model on data it does not train on (a validation or a test set), run
# it without updating anything:
#
# - `model.eval()` switches layers such as dropout or batch normalisation to their
#   evaluation behaviour;
# - `with torch.no_grad():` stops autograd from recording the graph, which saves
#   memory and time since no backward pass will follow.
#
# `evaluate(model, batches, loss_fn)` returns the mean of the batch losses, as a Python
# float, like `train_epoch`. It must not touch the parameters or their gradients.


# %%
def evaluate(model: nn.Module, batches, loss_fn) -> float:
    """Mean batch loss of the model in evaluation mode, without gradients, as a float."""
    ### BEGIN SOLUTION
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for xb, yb in batches:
            total += loss_fn(model(xb), yb).item()
            count += 1
    return total / count if count else math.nan
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab6.evaluate")

# %% [markdown]
# ## 6. Fitting with early stopping
#
# The training loss almost always keeps going down; what we care about is the error
# on new data. So the data are split (as in the first lecture) into a training part,
# used for the updates, and a validation part, used only to watch how well the model
# generalises. When a model starts to **overfit**, the validation loss stops improving
# or rises while the training loss still falls. **Early stopping** watches for this:
#
# - after each epoch, compute the validation loss;
# - whenever it is strictly lower than the best so far, remember it together with a
#   **copy** of the weights: `copy.deepcopy(model.state_dict())`. A bare
#   `model.state_dict()` is not enough: its tensors share memory with the parameters,
#   so the optimiser would keep changing your "saved" weights;
# - after `patience` consecutive epochs without improvement, stop;
# - at the end (whether stopped early or after `epochs` epochs), load the best weights
#   back with `model.load_state_dict(...)`.
#
# `fit(model, train, val, loss_fn, optimizer, epochs, patience)` receives `train` and
# `val` as lists of `(xb, yb)` batches, used again in every epoch, and returns
# `history = {"train_loss": [...], "val_loss": [...]}`, one Python float per epoch
# actually run. So with `patience = 3`, if the best validation loss came at epoch 5,
# training stops after epoch 8 and `history["val_loss"]` has 8 values. (`patience` is
# at least 1. If no epoch ever improves, for instance when every validation loss is
# `nan`, there are no best weights to restore and the model is left as it is.)


# %%
def fit(model: nn.Module, train, val, loss_fn, optimizer, epochs: int, patience: int) -> dict:
    """Train with early stopping on the validation loss; restore the best weights."""
    ### BEGIN SOLUTION
    history = {"train_loss": [], "val_loss": []}
    best_loss, best_state, waited = math.inf, None, 0
    for _ in range(epochs):
        history["train_loss"].append(train_epoch(model, train, loss_fn, optimizer))
        val_loss = evaluate(model, val, loss_fn)
        history["val_loss"].append(val_loss)
        if val_loss < best_loss:
            best_loss, waited = val_loss, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
    ### END SOLUTION


# %% [markdown]
# Early stopping in action: 30 noisy samples of the sine function from the tasks
# below, a network far larger than such a small data set deserves, and 500 clean
# validation points. The training loss keeps falling while the validation loss turns
# back up: the network is learning the noise. `fit` stops `patience` (here 100) epochs
# after the best one and hands back the weights of that best epoch.


# %% tags=["skip-grading"]
def early_stopping_demo():
    torch.manual_seed(1)
    X_train, Y_train = make_sine_data(30, seed=1)
    Y_train = Y_train + 0.3 * torch.randn(Y_train.shape)
    X_val, Y_val = make_sine_data(500, seed=2)
    model = nn.Sequential(
        nn.Linear(2, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 1)
    )
    try:
        optimizer = Adam(model.parameters(), lr=1e-2)
        train = list(minibatches(X_train, Y_train, 10, generator=torch.Generator().manual_seed(0)))
        val = list(minibatches(X_val, Y_val, 500, shuffle=False))
        history = fit(model, train, val, nn.MSELoss(), optimizer, epochs=1000, patience=100)
    except NotImplementedError:
        print("implement Adam, minibatches, train_epoch, evaluate and fit first")
        return
    best = min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
    epochs = range(1, len(history["val_loss"]) + 1)
    plt.figure(figsize=(7, 3.5))
    plt.semilogy(epochs, history["train_loss"], label="training loss")
    plt.semilogy(epochs, history["val_loss"], label="validation loss")
    plt.axvline(best + 1, color="gray", linestyle="--", label=f"best epoch ({best + 1})")
    plt.xlabel("epoch")
    plt.ylabel("MSE")
    plt.title("Early stopping keeps the weights of the best validation epoch")
    plt.legend()
    plt.grid(alpha=0.3)
    plt.show()


early_stopping_demo()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab6.fit")

# %% [markdown]
# ## 7. Task: recover an affine map
#
# The first lecture's opening example: data produced by a hidden affine map
# $Y = X A^\top + c$ (a $4 \times 4$ matrix, 1000 samples, inputs between 0 and 100),
# and a single dense layer, `nn.Linear(4, 4)`, which has exactly the same form. Can
# training find $A$ and $c$ from the pairs $(X, Y)$ alone?
#
# It can, but not comfortably on the raw data. The inputs are large (up to 100) and all
# positive, so the gradient with respect to the weights is about 50 times larger than
# the one with respect to the bias, and the two are strongly coupled: a learning rate
# small enough for the weights barely moves the bias. The remedy is **standardisation**:
# train on $\tilde x = (x - \mu_x) / \sigma_x$ and $\tilde y = (y - \mu_y) / \sigma_y$
# (means and standard deviations per column, from the training data), where every
# direction has about the same scale and a few epochs are enough.
#
# A layer $\tilde y = \tilde W \tilde x + \tilde b$ on standardised data is still an
# affine map of the raw data. Undoing both standardisations,
#
# $$y = \sigma_y \odot \bigl(\tilde W \tilde x + \tilde b\bigr) + \mu_y
# = \underbrace{\operatorname{diag}(\sigma_y)\, \tilde W \operatorname{diag}(1/\sigma_x)}_{W}\, x
# + \underbrace{\sigma_y \odot \tilde b + \mu_y - W \mu_x}_{b},$$
#
# so the trained layer can be rewritten as one `nn.Linear(4, 4)` on the raw inputs,
# whose weight and bias should then be close to $A$ and $c$.
#
# `train_affine(X, Y) -> (model, history)`: `model` maps raw inputs `[n, 4]` to
# `[n, 4]`; it must reach a relative error below $10^{-3}$ on fresh inputs from the
# same distribution. `history` lists the training loss of each epoch (here measured on
# the standardised data). The solution uses SGD with momentum (learning rate 0.1,
# momentum 0.9) for 20 epochs of 20 batches (batches of 50 for 1000 samples).


# %%
def train_affine(X: torch.Tensor, Y: torch.Tensor):
    """Fit nn.Linear to an exact affine relation Y = X A^T + c; return (model, history)."""
    ### BEGIN SOLUTION
    torch.manual_seed(0)
    mean_x, std_x = X.mean(0), X.std(0)
    mean_y, std_y = Y.mean(0), Y.std(0)
    X_std = (X - mean_x) / std_x
    Y_std = (Y - mean_y) / std_y
    model = nn.Linear(X.shape[1], Y.shape[1]).to(device=X.device, dtype=X.dtype)
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.MSELoss()
    batch_size = max(1, X.shape[0] // 20)  # 20 steps an epoch, whatever the data size
    history = []
    for _ in range(20):
        batches = minibatches(X_std, Y_std, batch_size)
        history.append(train_epoch(model, batches, loss_fn, optimizer))
    # Fold the two standardisations into the layer, so that it takes raw inputs.
    with torch.no_grad():
        W = std_y[:, None] * model.weight / std_x
        b = std_y * model.bias + mean_y - W @ mean_x
        model.weight.copy_(W)
        model.bias.copy_(b)
    return model, history
    ### END SOLUTION


# %% tags=["skip-grading"]
try:
    X, Y, A, c = make_affine_data()
    model, history = train_affine(X, Y)
    X_new = 100 * torch.rand(500, 4, generator=torch.Generator().manual_seed(1))
    Y_new = X_new @ A.T + c
    with torch.no_grad():
        print(f"relative error on fresh inputs: {relative_error(model(X_new), Y_new):.2e}")
        print(f"relative error of the weight:   {relative_error(model.weight, A):.2e}")
        print(f"relative error of the bias:     {relative_error(model.bias, c):.2e}")
except NotImplementedError:
    print("implement SGD, minibatches, train_epoch and train_affine first")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab6.train_affine")

# %% [markdown]
# ## 8. Task: a smooth function of two variables
#
# A non-linear regression from the lecture on learning from data:
#
# $$f(x_1, x_2) = \frac{\sin(\pi x_1)}{x_2^2 + 1}, \qquad (x_1, x_2) \in [-1, 1]^2.$$
#
# A single linear layer cannot do this; a small multilayer perceptron can. The solution
# uses two hidden layers of 32 tanh units (a smooth activation suits a smooth target),
# Adam with batches of 200, and a learning rate that decreases over the epochs along
# half a cosine, from $2 \cdot 10^{-2}$ to 0:
#
# $$\eta_e = \frac{\eta_0}{2}\Bigl(1 + \cos\frac{\pi e}{E}\Bigr), \qquad e = 0, \dots, E - 1.$$
#
# Large steps early make fast progress; small steps at the end let the parameters
# settle instead of bouncing around the minimum. Because `step()` reads `self.lr`,
# setting `optimizer.lr` before each epoch is all a schedule takes.
#
# `train_sine(X, Y) -> (model, history)`: `X` is `[n, 2]`, `Y` is `[n, 1]`, and
# `model` maps `[n, 2]` to `[n, 1]`. The goal is a mean squared error below
# $10^{-3}$ on fresh validation points (with the default 2000 training samples the
# solution reaches about $6 \cdot 10^{-5}$ in under a second).


# %%
def train_sine(X: torch.Tensor, Y: torch.Tensor):
    """Fit an MLP to f(x1, x2) = sin(pi x1) / (x2^2 + 1); return (model, history)."""
    ### BEGIN SOLUTION
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1)
    ).to(device=X.device, dtype=X.dtype)
    lr, epochs = 2e-2, 100
    optimizer = Adam(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    history = []
    for epoch in range(epochs):
        optimizer.lr = 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs))
        history.append(train_epoch(model, minibatches(X, Y, 200), loss_fn, optimizer))
    return model, history
    ### END SOLUTION


# %% [markdown]
# The learned function next to the true one, and the error between them, on a grid of
# the input square.


# %% tags=["skip-grading"]
def plot_sine_fit():
    X, Y = make_sine_data()
    try:
        model, history = train_sine(X, Y)
    except NotImplementedError:
        print("implement Adam, minibatches, train_epoch and train_sine first")
        return
    X_val, Y_val = make_sine_data(5000, seed=1)
    with torch.no_grad():
        mse = float(((model(X_val) - Y_val) ** 2).mean())
    print(f"final training loss {history[-1]:.2e}, validation MSE {mse:.2e}")
    grid = torch.linspace(-1, 1, 101)
    x1, x2 = torch.meshgrid(grid, grid, indexing="xy")
    points = torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=1)
    with torch.no_grad():
        learned = model(points).reshape(x1.shape)
    true = sine_target(points).reshape(x1.shape)
    panels = [("true f", true), ("learned", learned), ("learned - true", learned - true)]
    _, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (title, values) in zip(axes, panels, strict=True):
        image = ax.imshow(values.numpy(), extent=(-1, 1, -1, 1), origin="lower", cmap="coolwarm")
        plt.colorbar(image, ax=ax)
        ax.set_title(title)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    plt.tight_layout()
    plt.show()


plot_sine_fit()

# %% [markdown]
# **Three optimisers on the same problem.** The same network, the same initial weights
# and the same batches, trained with plain SGD, SGD with momentum 0.9, and Adam (each
# with a constant learning rate). Momentum gets much further than plain SGD in the same
# number of steps, and Adam, which rescales each direction, is faster still on this
# problem. (With other learning rates the picture changes somewhat: try it.) Notice
# also how jagged the faster curves become: with a constant learning rate the steps
# stay just as large near the minimum, so the loss bounces instead of settling. That is
# why `train_sine` above lowers the learning rate as training proceeds.


# %% tags=["skip-grading"]
def compare_optimizers(epochs=60):
    X, Y = make_sine_data()
    settings = {
        "SGD, lr 0.1": lambda params: SGD(params, lr=0.1),
        "SGD + momentum 0.9, lr 0.1": lambda params: SGD(params, lr=0.1, momentum=0.9),
        "Adam, lr 0.01": lambda params: Adam(params, lr=1e-2),
    }
    curves = {}
    for label, make_optimizer in settings.items():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1)
        )
        generator = torch.Generator().manual_seed(0)
        try:
            optimizer = make_optimizer(model.parameters())
            curves[label] = [
                train_epoch(
                    model, minibatches(X, Y, 100, generator=generator), nn.MSELoss(), optimizer
                )
                for _ in range(epochs)
            ]
        except NotImplementedError:
            print(f"{label}: implement the optimiser, minibatches and train_epoch first")
    if not curves:
        return
    plt.figure(figsize=(7, 3.8))
    for label, losses in curves.items():
        plt.semilogy(range(1, epochs + 1), losses, label=label)
    plt.xlabel("epoch")
    plt.ylabel("training MSE")
    plt.title("Same network, same batches, three optimisers")
    plt.legend()
    plt.grid(alpha=0.3)
    plt.show()


compare_optimizers()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab6.train_sine")

# %% [markdown]
# ## 9. Task: XOR
#
# XOR is the classic problem a single perceptron cannot solve: no line separates
# $\{(0, 1), (1, 0)\}$ (class 1) from $\{(0, 0), (1, 1)\}$ (class 0). One hidden layer is
# enough: the hidden units draw a few lines, and the output layer combines them.
#
# The network is `Linear(2, H)`, an activation, `Linear(H, 1)`, and its single output
# is a **logit** $z$: the predicted class is 1 when $z > 0$, that is when
# $\sigma(z) > 1/2$. Train it with the binary cross-entropy on logits,
# `nn.BCEWithLogitsLoss()`, which computes $\sigma$ and the log together in a stable way.
#
# With four distinct points there is no reason to split them into minibatches: the
# solution takes one full batch per epoch (`batch_size = n`), a hidden layer of 8 tanh
# units and Adam with learning rate 0.05 for 200 epochs. Small networks on XOR can get
# stuck (a hidden layer of 2 units fails from many initialisations); a few more hidden
# units make training reliable.
#
# `train_xor(X, Y) -> (model, history)`: `X` holds the four points, possibly repeated,
# as `[n, 2]` floats in $\{0, 1\}$, `Y` the labels as `[n, 1]` floats 0 or 1; the model
# must classify all four points correctly.


# %%
def train_xor(X: torch.Tensor, Y: torch.Tensor):
    """Train a two-layer network whose output is a logit; return (model, history)."""
    ### BEGIN SOLUTION
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).to(
        device=X.device, dtype=X.dtype
    )
    optimizer = Adam(model.parameters(), lr=0.05)
    loss_fn = nn.BCEWithLogitsLoss()
    history = []
    for _ in range(200):
        history.append(train_epoch(model, minibatches(X, Y, X.shape[0]), loss_fn, optimizer))
    return model, history
    ### END SOLUTION


# %% tags=["skip-grading"]
def plot_xor():
    X, Y = make_xor_data()
    try:
        model, history = train_xor(X, Y)
    except NotImplementedError:
        print("implement Adam, minibatches, train_epoch and train_xor first")
        return
    grid = torch.linspace(-0.5, 1.5, 201)
    x1, x2 = torch.meshgrid(grid, grid, indexing="xy")
    with torch.no_grad():
        logits = model(torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=1)).reshape(x1.shape)
    _, (ax_loss, ax_regions) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.semilogy(range(1, len(history) + 1), history)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("binary cross-entropy")
    ax_loss.set_title("training loss")
    ax_loss.grid(alpha=0.3)
    ax_regions.contourf(
        x1.numpy(),
        x2.numpy(),
        (logits > 0).double().numpy(),
        levels=[-0.5, 0.5, 1.5],
        cmap="coolwarm",
        alpha=0.4,
    )
    ax_regions.contour(x1.numpy(), x2.numpy(), logits.numpy(), levels=[0.0], colors="k")
    points, labels = X[:4], Y[:4, 0]
    ax_regions.scatter(points[:, 0], points[:, 1], c=labels, cmap="coolwarm", edgecolors="k", s=120)
    ax_regions.set_title("decision regions (logit > 0 in red)")
    ax_regions.set_xlabel("$x_1$")
    ax_regions.set_ylabel("$x_2$")
    plt.tight_layout()
    plt.show()


plot_xor()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab6.train_xor")

# %% [markdown]
# ## Wrapping up
#
# You have written the whole training machinery that `torch.optim` and the usual
# training loop provide: SGD with momentum and weight decay, Adam with its bias
# correction, shuffled minibatches, the five-line training step, evaluation without
# gradients and early stopping on a validation set. Along the way: rescaling the data
# (standardisation) can matter as much as the choice of optimiser, a decreasing
# learning rate helps to settle into a minimum, and a little extra width makes small
# networks much easier to train. The lab report puts all of this to work on real data.
