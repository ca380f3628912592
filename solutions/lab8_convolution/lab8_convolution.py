# %% [markdown]
# # Lab 8: convolutional networks
#
# A fully connected layer treats an image as a flat list of numbers: it ignores that
# neighbouring pixels belong together, and it needs one weight per pixel and per unit.
# A convolutional layer slides a small filter over the image instead, computing the same
# weighted sum of a neighbourhood at every position. The weights are shared between
# positions (far fewer parameters), and a pattern is detected wherever it appears. Stacked
# with non-linearities and pooling, which shrinks the maps and tolerates small shifts,
# such layers are the convolutional networks behind modern image recognition.
#
# In this lab you write those layers yourself, with their backward passes, and train a
# small network of them on handwritten digits.
#
# **What you implement.**
#
# 1. `Conv2dFunction` / `conv2d`: the 2-d convolution (as deep learning defines it: a
#    cross-correlation) with stride and padding, forward and backward;
# 2. `MaxPool2dFunction` / `max_pool2d`: max pooling, forward and backward;
# 3. `BatchNorm2d`: batch normalisation of the channels, with running statistics;
# 4. `Dropout`: random zeroing of activations while training;
# 5. `SmallCNN`: a two-layer convolutional network for 8x8 digits;
# 6. `train_digits_cnn`: train it on scikit-learn's digits, graded by its test accuracy;
# 7. `d_conv1d_weight`: a derivation, the gradient of a 1-d convolution with respect to its
#    weights.
#
# **Conventions (the grader relies on them).**
#
# - Shapes follow PyTorch: images are `[n, c, h, w]` (batch, channels, height, width),
#   convolution weights `[c_out, c_in, kh, kw]`, the bias `[c_out]`. `stride` and `padding`
#   are an `int` or a pair `(along h, along w)`; padding adds zeros on **both** sides.
# - The grader compares your layers with PyTorch's (`F.conv2d`, `F.max_pool2d`,
#   `nn.BatchNorm2d`, `nn.Dropout`), on `float32` and `float64` inputs, and on the GPU
#   when there is one: keep the dtype and the device of the inputs.
# - Backward passes return one gradient per input of `forward`, in order, and `None` for
#   an input that has none (a missing bias, the integer arguments).
#
# **Not allowed.** `F.conv2d`, `nn.Conv2d`, `F.max_pool2d`, `nn.MaxPool2d`,
# `nn.BatchNorm2d`, `F.batch_norm`, `F.dropout`, `nn.Dropout` and their aliases: the
# grader reports them as a forbidden API, with zero points for that exercise. `F.unfold`
# and `F.fold` (which cut an image into patches and add patches back into an image) and
# plain tensor algebra are allowed, and so is `nn.Linear`.
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab8_convolution.ipynb` in a terminal.

# %%
import math

import sympy
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.autograd import Function

# The tensors of this lab are small: one CPU thread computes them faster than several, which
# spend longer waiting for each other than working (the grader's worker uses one as well).
torch.set_num_threads(1)


def pair(value):
    """(value, value) for an int, the pair itself otherwise."""
    return (value, value) if isinstance(value, int) else tuple(value)


# %% [markdown]
# ## 1. Convolution
#
# A convolutional layer with weights $W$ of shape `[c_out, c_in, kh, kw]` and bias $b$
# computes, for each output channel $o$ and each output position $(i, j)$,
#
# $$y_{o,i,j} = b_o + \sum_{c=0}^{c_\text{in}-1} \sum_{u=0}^{kh-1} \sum_{v=0}^{kw-1}
#   W_{o,c,u,v}\; \tilde x_{c,\, s_h i + u,\, s_w j + v},$$
#
# where $\tilde x$ is the input padded with $p_h$ rows of zeros above **and** below and
# $p_w$ columns left **and** right, and $(s_h, s_w)$ is the stride. The kernel is **not**
# flipped: mathematicians would call this a cross-correlation; deep learning (and
# PyTorch's `conv2d`) calls it a convolution. The output has
#
# $$h_\text{out} = \left\lfloor \frac{h + 2p_h - kh}{s_h} \right\rfloor + 1, \qquad
#   w_\text{out} = \left\lfloor \frac{w + 2p_w - kw}{s_w} \right\rfloor + 1$$
#
# rows and columns (count the positions where the kernel fits: the $+1$ is the first one).
#
# **im2col.** The fast way to compute this is to cut the padded input into its
# $L = h_\text{out} w_\text{out}$ patches: `F.unfold(x_padded, (kh, kw), stride=stride)`
# returns them as the columns of a `[n, c_in kh kw, L]` tensor. With the weights reshaped
# to a `[c_out, c_in kh kw]` matrix, the convolution is one matrix product per image,
# $Y = W_\text{mat} \cdot \text{cols}$, of shape `[n, c_out, L]`, then reshaped to
# `[n, c_out, h_out, w_out]`.
#
# **Backward.** With $G$ = `grad_output` reshaped to `[n, c_out, L]`:
#
# - $\partial L / \partial W_\text{mat} = \sum_{\text{images}} G \cdot \text{cols}^\top$:
#   every weight is used at every position of every image, so its gradient **sums over the
#   batch and over the positions**;
# - $\partial L / \partial b_o = \sum_{n, i, j} G_{n,o,i,j}$;
# - $\partial L / \partial \text{cols} = W_\text{mat}^\top G$, and each patch's gradient is
#   added back where the patch came from: `F.fold` does exactly that (a pixel that lies in
#   several patches receives the sum). Then cut the padding off.
#
# Write `Conv2dFunction.forward(ctx, x, weight, bias, stride, padding)` and its
# `backward`, which returns `(dx, dW, db, None, None)` (`db` is `None` when `bias` is).
# `conv2d(x, weight, bias=None, stride=1, padding=0)` calls it.


# %%
class Conv2dFunction(Function):
    """2-d convolution (cross-correlation) with a hand-written backward pass."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        """Return the convolution of x [n, c_in, h, w] with weight [c_out, c_in, kh, kw]."""
        ### BEGIN SOLUTION
        (sh, sw), (ph, pw) = pair(stride), pair(padding)
        n, _, h, w = x.shape
        c_out, _, kh, kw = weight.shape
        h_out = (h + 2 * ph - kh) // sh + 1
        w_out = (w + 2 * pw - kw) // sw + 1
        padded = F.pad(x, (pw, pw, ph, ph))
        cols = F.unfold(padded, (kh, kw), stride=(sh, sw))
        out = weight.reshape(c_out, -1) @ cols
        if bias is not None:
            out = out + bias[:, None]
        ctx.save_for_backward(weight, cols)
        ctx.geometry = (x.shape, padded.shape, (kh, kw), (sh, sw), (ph, pw), bias is not None)
        return out.reshape(n, c_out, h_out, w_out)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """Return (dx, dW, db, None, None) from grad_output [n, c_out, h_out, w_out]."""
        ### BEGIN SOLUTION
        weight, cols = ctx.saved_tensors
        shape, padded_shape, kernel, stride, (ph, pw), has_bias = ctx.geometry
        n, c_out = grad_output.shape[:2]
        g = grad_output.reshape(n, c_out, -1)
        dW = torch.einsum("nol,nkl->ok", g, cols).reshape(weight.shape)
        dcols = weight.reshape(c_out, -1).T @ g
        dpadded = F.fold(dcols, padded_shape[2:], kernel, stride=stride)
        dx = dpadded[:, :, ph : ph + shape[2], pw : pw + shape[3]]
        db = g.sum(dim=(0, 2)) if has_bias else None
        return dx, dW, db, None, None
        ### END SOLUTION


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Convolve x [n, c_in, h, w] with weight [c_out, c_in, kh, kw], through Conv2dFunction."""
    return Conv2dFunction.apply(x, weight, bias, stride, padding)


# %% [markdown]
# The figure below slides a $3 \times 3$ filter that responds to vertical edges (bright on
# the left, dark on the right) over a digit: the red square is the window that produces
# the highlighted output pixel, and the map on the right is your `conv2d`'s output.


# %% tags=["skip-grading"]
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle


def plot_sliding_convolution(index=0, positions=((1, 1), (3, 4), (5, 2))):
    """A digit, an edge filter and its output map, with a few windows highlighted."""
    image = torch.tensor(load_digits().images[index], dtype=torch.float64) / 16
    kernel = torch.tensor([[1.0, 0.0, -1.0]] * 3, dtype=torch.float64)
    try:
        out = conv2d(image[None, None], kernel[None, None], padding=1)[0, 0]
    except NotImplementedError:
        print("implement Conv2dFunction first, then run this cell again")
        return
    _, axes = plt.subplots(1, len(positions) + 1, figsize=(4 * (len(positions) + 1), 4))
    for ax, (i, j) in zip(axes, positions):
        ax.imshow(image, cmap="gray_r")
        # Padding 1: output pixel (i, j) sees input rows i-1..i+1 and columns j-1..j+1.
        ax.add_patch(Rectangle((j - 1.5, i - 1.5), 3, 3, fill=False, color="red", lw=2))
        ax.set_title(f"window of output ({i}, {j}): {float(out[i, j]):.2f}")
    axes[-1].imshow(out, cmap="coolwarm")
    for i, j in positions:
        axes[-1].add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, color="red", lw=2))
    axes[-1].set_title("output: vertical edges")
    plt.show()


plot_sliding_convolution()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab8.conv2d")

# %% [markdown]
# ## 2. Max pooling
#
# Max pooling with a $k_h \times k_w$ window and stride $s$ keeps the largest value of each
# window, channel by channel:
# $y_{n,c,i,j} = \max_{u < k_h,\, v < k_w} x_{n,c,\, s_h i + u,\, s_w j + v}$. The stride
# defaults to the kernel size (windows that do not overlap), and there is no padding.
#
# The maximum passes the gradient to the element that won, and to no other:
# $\partial y_{i,j} / \partial x = 1$ at the window's argmax and $0$ elsewhere. So the
# backward pass sends each `grad_output` value to its window's maximum only (where windows
# overlap, an element that wins several windows adds up their gradients). The grader's
# inputs have no ties inside a window.
#
# Hint: `F.unfold` works here too once the channels are moved into the batch
# (`x.reshape(n * c, 1, h, w)`); `argmax` over a patch's column gives its winner, and
# `F.fold` adds the gradients back into place.


# %%
class MaxPool2dFunction(Function):
    """2-d max pooling with a hand-written backward pass."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride):
        """Return the maximum of each window of x [n, c, h, w]; stride None = kernel_size."""
        ### BEGIN SOLUTION
        kernel = pair(kernel_size)
        stride = kernel if stride is None else pair(stride)
        n, c, h, w = x.shape
        h_out = (h - kernel[0]) // stride[0] + 1
        w_out = (w - kernel[1]) // stride[1] + 1
        cols = F.unfold(x.reshape(n * c, 1, h, w), kernel, stride=stride)
        out, winners = cols.max(dim=1)
        ctx.save_for_backward(winners)
        ctx.geometry = (x.shape, cols.shape, kernel, stride)
        return out.reshape(n, c, h_out, w_out)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """Return (dx, None, None): each gradient goes to its window's maximum."""
        ### BEGIN SOLUTION
        (winners,) = ctx.saved_tensors
        shape, cols_shape, kernel, stride = ctx.geometry
        g = grad_output.reshape(cols_shape[0], 1, cols_shape[2])
        dcols = torch.zeros(cols_shape, dtype=g.dtype, device=g.device)
        dcols.scatter_(1, winners[:, None, :], g)
        dx = F.fold(dcols, shape[2:], kernel, stride=stride)
        return dx.reshape(shape), None, None
        ### END SOLUTION


def max_pool2d(x, kernel_size, stride=None):
    """Max pooling of x [n, c, h, w] through MaxPool2dFunction."""
    return MaxPool2dFunction.apply(x, kernel_size, stride)


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab8.max_pool2d")

# %% [markdown]
# ## 3. Batch normalisation
#
# Batch normalisation standardises each channel over the batch and the positions, then
# rescales it with learnt parameters $\gamma$ (`weight`, ones at first) and $\beta$
# (`bias`, zeros):
#
# $$\mu_c = \frac{1}{m} \sum_{n,i,j} x_{n,c,i,j}, \quad
#   \sigma_c^2 = \frac{1}{m} \sum_{n,i,j} (x_{n,c,i,j} - \mu_c)^2, \quad
#   y = \gamma_c \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \varepsilon}} + \beta_c,$$
#
# with $m = n\,h\,w$ values per channel. Normalisation uses the **biased** variance
# (divide by $m$).
#
# At test time there may be a single image, so the layer also keeps running estimates,
# the buffers `running_mean` (zeros at first) and `running_var` (ones), updated at every
# forward pass in training mode:
#
# $$\hat\mu \leftarrow (1 - \text{momentum})\, \hat\mu + \text{momentum}\; \mu_c, \qquad
#   \hat\sigma^2 \leftarrow (1 - \text{momentum})\, \hat\sigma^2 + \text{momentum}\;
#   \frac{m}{m - 1} \sigma_c^2,$$
#
# the **unbiased** variance this time (as PyTorch does). In evaluation mode
# (`model.eval()`, `self.training` is `False`) the layer uses $\hat\mu$ and $\hat\sigma^2$
# instead of the batch's statistics and updates nothing. Register the buffers with
# `self.register_buffer(name, tensor)`, so that `.to(...)` moves them and `state_dict()`
# saves them; autograd differentiates the rest.


# %%
class BatchNorm2d(nn.Module):
    """Batch normalisation of the channels of [n, c, h, w] inputs."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        """Create weight (ones), bias (zeros) and the buffers running_mean, running_var."""
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise with the batch's statistics (training) or the running ones (evaluation)."""
        ### BEGIN SOLUTION
        if self.training:
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            count = x.numel() // x.shape[1]
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                unbiased = var * count / (count - 1)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + self.eps)
        return self.weight[:, None, None] * x_hat + self.bias[:, None, None]
        ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab8.BatchNorm2d")

# %% [markdown]
# ## 4. Dropout
#
# Dropout regularises a network by zeroing each activation independently with
# probability $p$ during training, so that no unit can rely on another one always being
# there. The survivors are scaled by $1/(1-p)$, so that the expected output equals the
# input, $\mathbb{E}[y] = (1-p) \cdot \frac{x}{1-p} = x$, and nothing needs rescaling at
# test time: in evaluation mode dropout is the identity.
#
# Draw the mask with `torch.rand_like(x) >= p` (keep where a uniform draw is at least
# $p$), multiply, scale. Autograd then gives the backward pass: the gradient is
# `grad_output` times the same mask and scale. The grader checks the statistics of your
# mask (the fraction of zeros must be close to $p$), the scale of the survivors, the
# gradient, and the identity in evaluation mode.


# %%
class Dropout(nn.Module):
    """Zero each element with probability p in training mode; identity in evaluation mode."""

    def __init__(self, p: float = 0.5):
        """Keep the drop probability p (0 <= p < 1)."""
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x times a random keep-mask scaled by 1 / (1 - p), in training mode; x otherwise."""
        ### BEGIN SOLUTION
        if not self.training:
            return x
        mask = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * mask / (1 - self.p)
        ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab8.Dropout")

# %% [markdown]
# ## 5. A small convolutional network
#
# `Conv2d` below (given) is a layer around your `conv2d`, with weights initialised
# uniformly in $\pm 1/\sqrt{c_\text{in} k_h k_w}$ as PyTorch does. Build `SmallCNN`, for
# $1 \times 8 \times 8$ digit images and 10 classes, from exactly these layers:
#
# | layer | attribute | output shape |
# | --- | --- | --- |
# | `Conv2d(1, 8, 3, padding=1)`, ReLU, `max_pool2d(., 2)` | `conv1` | `[n, 8, 4, 4]` |
# | `Conv2d(8, 16, 3, padding=1)`, ReLU, `max_pool2d(., 2)` | `conv2` | `[n, 16, 2, 2]` |
# | flatten, `nn.Linear(64, 10)` | `fc` | `[n, 10]` (logits) |
#
# Create them in that order (the grader copies the parameters `conv1.weight`,
# `conv1.bias`, `conv2.weight`, `conv2.bias`, `fc.weight`, `fc.bias` into PyTorch's twin
# of the network and compares outputs and gradients). It has
# $80 + 1168 + 650 = 1898$ parameters, against 650 for a linear classifier of the same
# pixels and about 40 000 for an MLP with a hidden layer of 600 units.


# %%
class Conv2d(nn.Module):
    """A convolutional layer around conv2d (given)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        kh, kw = pair(kernel_size)
        bound = 1 / math.sqrt(in_channels * kh * kw)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, kh, kw).uniform_(-bound, bound)
        )
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        self.stride = stride
        self.padding = padding

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)


class SmallCNN(nn.Module):
    """conv1, ReLU, pool, conv2, ReLU, pool, fc: 1x8x8 images to 10 logits."""

    def __init__(self):
        """Create conv1, conv2 and fc, in that order."""
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = Conv2d(1, 8, 3, padding=1)
        self.conv2 = Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 2 * 2, 10)
        ### END SOLUTION

    def forward(self, x):
        """Return the logits [n, 10] of images x [n, 1, 8, 8]."""
        ### BEGIN SOLUTION
        x = max_pool2d(torch.relu(self.conv1(x)), 2)
        x = max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))
        ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab8.SmallCNN")

# %% [markdown]
# ## 6. Task: classify the digits
#
# scikit-learn ships 1797 handwritten digits as $8 \times 8$ images with values 0 to 16
# (`load_digits_split()` below, given, scales them to $[0, 1]$ and shuffles them with a
# fixed seed). Its first 1297 are for training; the grader keeps the other 500 as its test
# set, so never train on them.
#
# Write `train_digits_cnn(seed=0)`: call `torch.manual_seed(seed)`, build a `SmallCNN`,
# and train it on the training images with `torch.optim.Adam` (learning rate `1e-2`),
# the cross-entropy loss (`F.cross_entropy` on the logits), mini-batches of 64 in a
# shuffled order (`torch.randperm`), for 15 epochs. Return `(model, history)`, where
# `history` holds the mean training loss of each epoch, as Python floats.
#
# Graded: the accuracy of `model.eval()`'s argmax on the 500 test images, in tiers (half
# the credit from 0.90, all of it from 0.95), within a time budget of 60 seconds. The
# reference takes a few seconds on one core.


# %%
def load_digits_split():
    """(X_train [1297, 1, 8, 8], y_train, X_test [500, 1, 8, 8], y_test), float32 in [0, 1]."""
    digits = load_digits()
    X = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    train, test = order[:1297], order[1297:]
    return X[train], y[train], X[test], y[test]


def train_digits_cnn(seed=0):
    """Train a SmallCNN on the training digits; return (model, history)."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    X, y, _, _ = load_digits_split()
    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(15):
        order = torch.randperm(len(X))
        total = 0.0
        for start in range(0, len(X), 64):
            batch = order[start : start + 64]
            loss = F.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / len(X))
    return model, history
    ### END SOLUTION


# %% [markdown]
# The trained network's first layer: the eight $3 \times 3$ filters it learnt, and the
# maps they produce on a test digit (after the ReLU). Some detect edges in one
# direction, some light strokes, some dark background.


# %% tags=["skip-grading"]
def plot_feature_maps(index=0):
    """The learnt conv1 filters and their ReLU maps on one test digit."""
    try:
        model, history = train_digits_cnn()
    except NotImplementedError:
        print("implement the layers, SmallCNN and train_digits_cnn first")
        return
    _, _, X_test, y_test = load_digits_split()
    model.eval()
    with torch.no_grad():
        maps = torch.relu(model.conv1(X_test[index : index + 1]))[0]
        accuracy = (model(X_test).argmax(1) == y_test).float().mean()
    filters = model.conv1.weight.detach()[:, 0]
    _, axes = plt.subplots(3, 9, figsize=(18, 6))
    axes[0, 0].plot(range(1, len(history) + 1), history)
    axes[0, 0].set_title(f"loss; test accuracy {float(accuracy):.3f}", fontsize=8)
    axes[1, 0].imshow(X_test[index, 0], cmap="gray_r")
    axes[1, 0].set_title(f"test digit {int(y_test[index])}")
    axes[2, 0].axis("off")
    for k in range(8):
        axes[0, k + 1].axis("off")
        axes[1, k + 1].imshow(filters[k], cmap="coolwarm")
        axes[1, k + 1].set_title(f"filter {k}")
        axes[2, k + 1].imshow(maps[k], cmap="viridis")
        axes[2, k + 1].set_title(f"map {k}")
    for ax in axes[1:].flat:
        ax.set_xticks([])
        ax.set_yticks([])
    plt.show()


plot_feature_maps()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab8.train_digits_cnn")

# %% [markdown]
# ## 7. Derivation: the gradient of a convolution with respect to its weights
#
# Take a 1-d input $x = (x_0, x_1, x_2)$ and a kernel $w = (w_0, w_1)$. The 1-d
# convolution (cross-correlation, no padding, stride 1) has two outputs,
#
# $$y_i = w_0 x_i + w_1 x_{i+1}, \qquad i = 0, 1.$$
#
# Write `d_conv1d_weight(x, w)`, where `x` is a list of 3 sympy symbols and `w` a list of
# 2: return the $2 \times 2$ nested list whose entry `[i][j]` is
# $\partial y_i / \partial w_j$, derived by hand (`sympy.diff` is not allowed). Compare
# the result with the backward pass of exercise 1: which inputs does each weight's
# gradient collect?


# %%
def d_conv1d_weight(x: list[sympy.Symbol], w: list[sympy.Symbol]) -> list[list[sympy.Expr]]:
    """[[dy0/dw0, dy0/dw1], [dy1/dw0, dy1/dw1]] for y_i = w0 x_i + w1 x_(i+1)."""
    ### BEGIN SOLUTION
    return [[x[i + j] for j in range(len(w))] for i in range(len(x) - len(w) + 1)]
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab8.d_conv1d_weight")
