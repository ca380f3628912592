# %% [markdown]
# # Lab 5: modules and models
#
# Until now every piece of a network was a function that received its weights as
# arguments. Real models are organised differently: a layer is an **object** that owns
# its parameters. In PyTorch that object is a subclass of `torch.nn.Module`. Its
# constructor creates the learnable tensors and stores them as `nn.Parameter`
# attributes; its `forward` method computes the output, and `model(x)` calls it. In
# return, PyTorch keeps track of the parameters for you: `model.parameters()` lists
# them (this is what an optimiser receives), `model.to(...)`, `.double()` or `.cuda()`
# convert them all at once, and after `loss.backward()` each one has a `.grad`.
# Modules nest: a module whose attributes are modules owns their parameters too.
#
# **What you implement.** A fully connected layer `Linear`, the two-layer network of
# the lecture (`TwoLayerNet`), a multi-layer perceptron of any depth (`MLP`),
# Rosenblatt's perceptron (`Perceptron`) with its learning rule
# (`perceptron_train`), logistic regression (`LogisticRegression`) and a maxout
# layer (`Maxout`).
#
# **Conventions (the grader relies on them).**
#
# - Batches are rows: an input `X` has shape `[n, d]`. A linear map has a weight of
#   shape `[out, in]` and a bias of shape `[out]`, and computes `X @ W.T + b`, exactly
#   like `torch.nn.Linear`.
# - `Linear(in_features, out_features, bias=True)` registers two `nn.Parameter`s,
#   `weight` first and `bias` second. With `bias=False`, call
#   `self.register_parameter("bias", None)`, so that `layer.bias` exists and is `None`.
#   Both are drawn uniformly in $[-k, k]$ with $k = 1/\sqrt{\text{in\_features}}$,
#   with `torch.empty(...).uniform_(-k, k)`: this uses PyTorch's global random
#   generator, so `torch.manual_seed` makes the initialisation reproducible. Draw the
#   weight before the bias. Parameters are created in PyTorch's default dtype
#   (`float32`) on the CPU; the grader converts whole modules with `.double()` or
#   `.to("cuda")`.
# - `MLP(in_features, hidden, out_features, n_hidden=1, activation="relu")` is
#   `Linear(in, hidden)`, activation, then `n_hidden - 1` times
#   (`Linear(hidden, hidden)`, activation), then `Linear(hidden, out)`, with no
#   activation after the last layer. `activation` is one of the lower-case strings
#   `"relu"`, `"tanh"`, `"sigmoid"`; anything else raises `ValueError`, and so does
#   `n_hidden < 1`. The layers are registered in order (in an `nn.Sequential` or an
#   `nn.ModuleList`), so `parameters()` yields the weight and bias of each `Linear`,
#   from the first layer to the last, and nothing else.
# - `TwoLayerNet(D_in, H, D_out)` has the attributes `linear1 = Linear(D_in, H)` and
#   `linear2 = Linear(H, D_out)`, and computes `linear2(relu(linear1(x)))`.
# - `Perceptron(in_features)` stores **plain tensors**, not parameters: `weight`, zeros
#   of shape `[in_features]`, and `bias`, a 0-dimensional zero. Its `forward(X)`
#   returns a tensor of shape `[n]` holding `1.0` where $Xw + b \ge 0$ and `0.0`
#   elsewhere (Heaviside(0) = 1), in the dtype and on the device of `X`. Plain tensors
#   do not follow `.to(...)`, so `forward` converts `weight` and `bias` to `X`'s device
#   and dtype before using them.
# - `perceptron_train(X, y, epochs, lr=1.0)` returns `(w, b)`, of shapes `[d]` and
#   `[]`, in `X`'s dtype and on its device. It starts from zeros and, in each epoch,
#   visits the rows in their order `0, 1, ..., n-1` (no shuffling). The labels `y`
#   are `0.0`/`1.0`.
# - `LogisticRegression(in_features)` holds `self.linear = Linear(in_features, 1)`.
#   `forward(X)` returns the logits with shape `[n]` (not `[n, 1]`),
#   `predict_proba(X)` their sigmoid, and `predict(X)` an `int64` tensor with `1`
#   where the probability is at least `0.5` and `0` elsewhere.
# - `Maxout(in_features, out_features, pieces=2)` registers `weight` of shape
#   `[pieces, out, in]` and then `bias` of shape `[pieces, out]`, initialised like
#   `Linear` (uniform in $\pm 1/\sqrt{\text{in\_features}}$, weight first).
# - Every module must work in `float32` and `float64`, on the CPU and on CUDA. Any
#   tensor you create inside a `forward` gets `device=x.device, dtype=x.dtype`.
#
# **What you may not use.** Inside `Linear`, do not call `torch.nn.functional.linear`,
# `torch.nn.Linear`, `torch.addmm` or the `addmm` method: the layer is the exercise.
# The grader reports such use as "forbidden" and gives zero points for it. Every other
# model in this lab is built from *your* `Linear`, never from `nn.Linear`. The
# activations of PyTorch (`torch.relu`, `torch.tanh`, `torch.sigmoid`, and the modules
# `nn.ReLU`, `nn.Tanh`, `nn.Sigmoid`) are allowed everywhere in this lab: you wrote
# your own in Lab 2.
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab5_modules.ipynb` in a terminal.

# %%
import math

import torch
from torch import nn

# %% tags=["skip-grading"]
import matplotlib.pyplot as plt

# %% [markdown]
# ## 1. A linear layer
#
# A fully connected layer maps $d$ inputs to $m$ outputs. Output $j$ is a weighted sum
# of the inputs plus a bias (the lecture's pre-activation):
#
# $$a_j = \sum_{i=1}^{d} w_{ji}\, x_i + b_j, \qquad 1 \le j \le m .$$
#
# Stacking the $w_{ji}$ into a matrix $W$ of shape $[m, d]$ and the examples of a
# batch into the rows of $X$ (shape $[n, d]$), the whole batch is one matrix product:
#
# $$A = X W^\top + b \qquad (\text{shape } [n, m];\ b \text{ is broadcast to every row}).$$
#
# **Registering parameters.** Assigning an `nn.Parameter` to an attribute of a module
# (`self.weight = nn.Parameter(tensor)`) is what makes it a parameter: it then appears
# in `parameters()` and `named_parameters()`, in the order of assignment, and
# `requires_grad` is on. Call `super().__init__()` before any assignment (it is already
# there for you). A layer without bias still declares the name, with
# `self.register_parameter("bias", None)`, so code can test `layer.bias is None`.
#
# **Initialisation.** Why $k = 1/\sqrt{d}$? If the inputs have second moment
# $\mathbb{E}[x_i^2] = s^2$ and the weights are independent, centred, with variance
# $\operatorname{Var}(w) = k^2/3$ (the variance of a uniform law on $[-k, k]$), then
#
# $$\operatorname{Var}(a_j) \approx d \cdot \frac{k^2}{3} \cdot s^2 = \frac{s^2}{3}
# \quad\text{for } k = \frac{1}{\sqrt d},$$
#
# which does not depend on the width $d$. With a fixed scale instead (say $k = 1$),
# the outputs grow like $\sqrt d$, and after a few layers they saturate a sigmoid or
# explode. This is the scale `nn.Linear` uses as well.
#
# Make `forward` work for any number of leading dimensions (`[..., in]`), which
# `@` gives you for free, and skip the bias when it is `None`.


# %%
class Linear(nn.Module):
    """Fully connected layer: y = x @ weight.T + bias."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        """Create weight [out, in] and bias [out], uniform in +-1/sqrt(in_features)."""
        super().__init__()
        raise NotImplementedError("Lab 5: implement Linear.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x @ weight.T + bias for x of shape [..., in_features]."""
        raise NotImplementedError("Lab 5: implement Linear.forward")

    def extra_repr(self) -> str:
        """Shown by print(layer), like nn.Linear."""
        out_features, in_features = self.weight.shape
        return (
            f"in_features={in_features}, out_features={out_features}, bias={self.bias is not None}"
        )


# %% [markdown]
# The figure checks the initialisation. On the left, the weights of one wide layer
# should fill the interval $[-k, k]$ evenly (the dashed line is the uniform density
# $1/(2k)$). On the right, unit-variance inputs go through layers of growing width:
# with $k = 1/\sqrt{d}$ the spread of the outputs stays put, while a fixed $k = 1$
# lets it grow like $\sqrt{d}$.


# %% tags=["skip-grading"]
def plot_linear_init():
    """Histogram of Linear's initial weights, and output scale against the width."""
    try:
        torch.manual_seed(0)
        layer = Linear(256, 256)
        widths = [4, 16, 64, 256, 1024]
        spreads = []
        for d in widths:
            x = torch.randn(2000, d)
            with torch.no_grad():
                spreads.append(Linear(d, 64)(x).std().item())
    except NotImplementedError:
        print("implement Linear first, then run this cell again")
        return
    k = 1 / math.sqrt(256)
    _, (ax_h, ax_s) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_h.hist(layer.weight.detach().flatten().numpy(), bins=40, density=True, alpha=0.7)
    ax_h.plot([-k, -k, k, k], [0, 1 / (2 * k), 1 / (2 * k), 0], "k--", label="uniform density")
    ax_h.set_title("initial weights of Linear(256, 256)")
    ax_h.set_xlabel("weight")
    ax_h.legend(loc="lower center")
    ax_s.plot(widths, spreads, "o-", label="k = 1/sqrt(d) (Linear)")
    ax_s.plot(widths, [math.sqrt(d / 3) for d in widths], "s--", label="k = 1 (theory: sqrt(d/3))")
    ax_s.set_xscale("log")
    ax_s.set_yscale("log")
    ax_s.set_xlabel("in_features d")
    ax_s.set_ylabel("std of the outputs")
    ax_s.set_title("output scale for unit-variance inputs")
    ax_s.legend()
    for ax in (ax_h, ax_s):
        ax.grid(alpha=0.3)
    plt.tight_layout()
    plt.show()


plot_linear_init()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab5.Linear")

# %% [markdown]
# ## 2. The two-layer network of the lecture
#
# One hidden layer of $H$ units between $D_{in}$ inputs and $D_{out}$ outputs:
#
# $$h = \operatorname{ReLU}(x W_1^\top + b_1), \qquad \hat y = h W_2^\top + b_2 .$$
#
# In a module, the layers are created once, in `__init__`, and stored as attributes
# (here `linear1` and `linear2`); `forward` only uses them. Creating a layer inside
# `forward` would draw fresh random weights at every call, and the optimiser would
# never see them. Because `linear1` and `linear2` are modules, `TwoLayerNet` owns their
# parameters: `parameters()` yields `linear1.weight`, `linear1.bias`, `linear2.weight`,
# `linear2.bias`.


# %%
class TwoLayerNet(nn.Module):
    """linear2(relu(linear1(x))), with linear1 = Linear(D_in, H), linear2 = Linear(H, D_out)."""

    def __init__(self, D_in: int, H: int, D_out: int):
        """Create the two layers, as attributes linear1 and linear2."""
        super().__init__()
        raise NotImplementedError("Lab 5: implement TwoLayerNet.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return linear2(relu(linear1(x)))."""
        raise NotImplementedError("Lab 5: implement TwoLayerNet.forward")


# %% tags=["skip-grading"]
try:
    net = TwoLayerNet(2, 20, 1)
    print(net)
    for name, p in net.named_parameters():
        print(f"{name:16s} {tuple(p.shape)}")
except NotImplementedError:
    print("implement Linear and TwoLayerNet first, then run this cell again")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab5.TwoLayerNet")

# %% [markdown]
# ## 3. A multi-layer perceptron of any depth
#
# A feed-forward network repeats the same pattern, an affine map followed by a
# non-linearity, with the sizes $n_0, n_1, \dots, n_H$ of its layers:
#
# $$f_0(x) = x, \qquad f_h(x) = \sigma\bigl(W_h f_{h-1}(x) + b_h\bigr),
# \qquad W_h \in \mathbb{R}^{n_h \times n_{h-1}},\ b_h \in \mathbb{R}^{n_h}.$$
#
# Our `MLP` has `n_hidden` hidden layers of width `hidden`, and its last layer is
# affine, without activation: its raw outputs serve as regression values or as logits
# for a loss such as cross-entropy. The sequence of modules is
#
# `Linear(in, hidden)`, act, [`Linear(hidden, hidden)`, act] $\times$ (`n_hidden` - 1),
# `Linear(hidden, out)`.
#
# **Registering a variable number of layers.** A plain Python list of modules is
# invisible to PyTorch: its parameters would not be found. Use `nn.Sequential(*layers)`
# (which also chains the calls in `forward`) or `nn.ModuleList(layers)`. The activations
# have no parameters, so `parameters()` yields exactly
# $W_1, b_1, W_2, b_2, \dots$ in order. The number of parameters is
#
# $$(n_{in} + 1)\,H + (n_{hidden} - 1)(H + 1)\,H + (H + 1)\,n_{out}.$$
#
# Check the activation name and `n_hidden` first and raise `ValueError` when they are
# invalid (`"ReLU"` or `"gelu"` are invalid).


# %%
class MLP(nn.Module):
    """Linear, act, (Linear, act) x (n_hidden - 1), Linear: built from your Linear."""

    def __init__(
        self,
        in_features: int,
        hidden: int,
        out_features: int,
        n_hidden: int = 1,
        activation: str = "relu",
    ):
        """Build the layers in order; activation is "relu", "tanh" or "sigmoid"."""
        super().__init__()
        raise NotImplementedError("Lab 5: implement MLP.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layers in order."""
        raise NotImplementedError("Lab 5: implement MLP.forward")


# %% tags=["skip-grading"]
try:
    mlp = MLP(3, 8, 2, n_hidden=3, activation="tanh")
    print(mlp)
    counted = sum(p.numel() for p in mlp.parameters())
    expected = (3 + 1) * 8 + (3 - 1) * (8 + 1) * 8 + (8 + 1) * 2
    print(f"{counted} parameters (formula: {expected})")
    print("output shape:", tuple(mlp(torch.randn(5, 3)).shape))
except NotImplementedError:
    print("implement Linear and MLP first, then run this cell again")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab5.MLP")

# %% [markdown]
# ## 4. The perceptron
#
# Rosenblatt's perceptron (1957) is a single neuron with a step activation:
#
# $$f(x) = H(w^\top x + b) = \begin{cases} 1 & w^\top x + b \ge 0 \\ 0 & \text{otherwise}
# \end{cases}$$
#
# It splits the input space with the hyperplane $w^\top x + b = 0$: everything on one
# side (and on the hyperplane itself, since $H(0) = 1$) is class 1. For a batch $X$ of
# shape $[n, d]$ the scores are $Xw + b$, of shape $[n]$.
#
# The step has zero derivative almost everywhere, so gradient descent cannot train a
# perceptron: it has its own learning rule (next exercise). That is why `weight` and
# `bias` are plain tensors here, not `nn.Parameter`s. Plain tensors are not converted
# by `model.double()` or `model.to("cuda")`, so in `forward` bring them to the device
# and dtype of `X` (for example `self.weight.to(device=X.device, dtype=X.dtype)`), and
# return the comparison as `X.dtype`, not `bool`.


# %%
class Perceptron(nn.Module):
    """Heaviside(X @ weight + bias), with plain tensors weight [d] and bias []."""

    def __init__(self, in_features: int):
        """Create weight (zeros [in_features]) and bias (a 0-dim zero), as plain tensors."""
        super().__init__()
        raise NotImplementedError("Lab 5: implement Perceptron.__init__")

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Return 1.0 where X @ weight + bias >= 0 and 0.0 elsewhere, shape [n], X's dtype."""
        raise NotImplementedError("Lab 5: implement Perceptron.forward")


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab5.Perceptron")

# %% [markdown]
# ## 5. The perceptron learning rule
#
# The perceptron learns one example at a time. For the example $(x_i, y_i)$ with
# $y_i \in \{0, 1\}$, predict $\hat y_i = H(w^\top x_i + b)$ with the current weights,
# then move them by
#
# $$w \leftarrow w + \eta\,(y_i - \hat y_i)\, x_i, \qquad
# b \leftarrow b + \eta\,(y_i - \hat y_i).$$
#
# When the prediction is right, $y_i - \hat y_i = 0$ and nothing changes. A missed
# positive ($y_i = 1$, $\hat y_i = 0$) adds $\eta x_i$, which raises its score
# $w^\top x_i + b$ by $\eta(\lVert x_i\rVert^2 + 1) > 0$; a false positive subtracts it.
#
# One **epoch** visits rows $i = 0, 1, \dots, n-1$ in this order. Start from
# $w = 0$, $b = 0$ (in the dtype and on the device of `X`). When the two classes can
# be separated by a hyperplane, the rule stops making mistakes after finitely many
# updates (the perceptron convergence theorem; with margin $\gamma$ and all
# $\lVert (x_i, 1) \rVert \le R$, at most $(R/\gamma)^2$ mistakes). After an epoch
# without a mistake nothing can change any more, so you may stop early: the result is
# the same. When the classes cannot be separated, as in XOR, the weights keep cycling
# and some example is always wrong.
#
# The loop is sequential by nature (each prediction uses the weights left by the
# previous example), so a Python loop over the rows is the right tool here.


# %%
def perceptron_train(
    X: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train a perceptron with the perceptron rule; return (w [d], b [])."""
    raise NotImplementedError("Lab 5: implement perceptron_train")


# %% [markdown]
# The figure trains a perceptron on two separable clouds and on the four points of
# XOR, then shades the region the trained `Perceptron` assigns to class 1. On the
# clouds a separating line is found; on XOR no line can put $(0,1)$ and $(1,0)$ on one
# side and $(0,0)$ and $(1,1)$ on the other, so at least one point stays wrong however
# long we train.


# %% tags=["skip-grading"]
def plot_perceptron():
    """Decision regions of the perceptron on separable data and on XOR."""
    gen = torch.Generator().manual_seed(0)
    X_sep = torch.cat(
        [
            torch.randn(40, 2, generator=gen) * 0.6 + torch.tensor([2.0, 2.0]),
            torch.randn(40, 2, generator=gen) * 0.6 + torch.tensor([-1.0, 0.0]),
        ]
    )
    y_sep = torch.cat([torch.ones(40), torch.zeros(40)])
    X_xor = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y_xor = torch.tensor([0.0, 1.0, 1.0, 0.0])
    _, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, X, y, title in [
        (axes[0], X_sep, y_sep, "separable clouds"),
        (axes[1], X_xor, y_xor, "XOR"),
    ]:
        try:
            w, b = perceptron_train(X, y, epochs=50)
            model = Perceptron(2)
            model.weight, model.bias = w, b
            accuracy = (model(X) == y).to(X.dtype).mean().item()
        except NotImplementedError:
            print("implement Perceptron and perceptron_train first, then run this cell again")
            plt.close()
            return
        lo, hi = X.min(0).values - 0.7, X.max(0).values + 0.7
        g0, g1 = torch.meshgrid(
            torch.linspace(lo[0], hi[0], 200), torch.linspace(lo[1], hi[1], 200), indexing="xy"
        )
        region = model(torch.stack([g0.flatten(), g1.flatten()], dim=1)).reshape(g0.shape)
        ax.contourf(
            g0.numpy(),
            g1.numpy(),
            region.numpy(),
            levels=[-0.5, 0.5, 1.5],
            colors=["tab:blue", "tab:orange"],
            alpha=0.2,
        )
        for label, color in [(0, "tab:blue"), (1, "tab:orange")]:
            pts = X[y == label]
            ax.scatter(pts[:, 0], pts[:, 1], color=color, edgecolor="k", label=f"class {label}")
        ax.set_title(f"{title}: training accuracy {accuracy:.2f}")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.legend(loc="upper left")
    plt.tight_layout()
    plt.show()


plot_perceptron()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab5.perceptron_train")

# %% [markdown]
# ## 6. Logistic regression
#
# Replace the step of the perceptron with the sigmoid and the model becomes
# differentiable in $w$ and $b$. Logistic regression reads the output as a
# probability:
#
# $$p(x) = P(Y = 1 \mid x) = \sigma(w^\top x + b), \qquad \sigma(t) = \frac{1}{1 + e^{-t}},$$
#
# and is trained by maximising the likelihood of the data, that is by minimising the
# binary cross-entropy $-\sum_i \bigl[y_i \log p(x_i) + (1 - y_i)\log(1 - p(x_i))\bigr]$.
#
# Three methods, three kinds of output:
#
# - `forward(X)`: the **logits** $z = Xw + b$, shape `[n]`. `self.linear` returns
#   shape `[n, 1]`; drop the last dimension (`squeeze(-1)`, not `squeeze()`, which
#   would also drop the batch dimension when $n = 1$). Losses such as
#   `binary_cross_entropy_with_logits` take logits, because they are more stable than
#   probabilities.
# - `predict_proba(X)`: $\sigma(z)$, shape `[n]`.
# - `predict(X)`: the class, by the MAP rule: choose the class with the larger
#   posterior probability. With two classes, class 1 wins when $p \ge 1 - p$, that is
#   $p \ge 1/2$; the tie goes to class 1, as with $H(0) = 1$. Return `int64` (`long`)
#   class labels. Compare the probability with $0.5$ as stated (in floating point
#   $\sigma(z)$ rounds to exactly $0.5$ for tiny negative $z$).


# %%
class LogisticRegression(nn.Module):
    """P(Y = 1 | x) = sigmoid(x @ w + b), with self.linear = Linear(in_features, 1)."""

    def __init__(self, in_features: int):
        """Create self.linear = Linear(in_features, 1)."""
        super().__init__()
        raise NotImplementedError("Lab 5: implement LogisticRegression.__init__")

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Return the logits X @ w + b, shape [n]."""
        raise NotImplementedError("Lab 5: implement LogisticRegression.forward")

    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        """Return P(Y = 1 | x) for each row, shape [n]."""
        raise NotImplementedError("Lab 5: implement LogisticRegression.predict_proba")

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """Return int64 labels [n]: 1 where predict_proba(X) >= 0.5, else 0."""
        raise NotImplementedError("Lab 5: implement LogisticRegression.predict")


# %% [markdown]
# Because the model is a module, training it takes a few generic lines: compute the
# loss, call `backward()`, and move every tensor of `parameters()` against its
# gradient. The next lab turns this loop into proper optimisers.


# %% tags=["skip-grading"]
def demo_logistic_regression(steps=300, lr=0.5):
    """Fit logistic regression on two overlapping clouds with plain gradient descent."""
    gen = torch.Generator().manual_seed(1)
    X = torch.cat(
        [torch.randn(100, 2, generator=gen) + 1.5, torch.randn(100, 2, generator=gen) - 1.5]
    )
    y = torch.cat([torch.ones(100), torch.zeros(100)])
    torch.manual_seed(0)
    try:
        model = LogisticRegression(2)
        losses = []
        for _ in range(steps):
            loss = nn.functional.binary_cross_entropy_with_logits(model(X), y)
            model.zero_grad()
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
            losses.append(loss.item())
        accuracy = (model.predict(X) == y.long()).double().mean().item()
    except NotImplementedError:
        print("implement Linear and LogisticRegression first, then run this cell again")
        return
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, training accuracy {accuracy:.3f}")
    _, ax = plt.subplots(figsize=(5, 3))
    ax.plot(losses)
    ax.set_xlabel("gradient step")
    ax.set_ylabel("binary cross-entropy")
    ax.set_title("logistic regression, trained through parameters()")
    ax.grid(alpha=0.3)
    plt.tight_layout()
    plt.show()


demo_logistic_regression()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab5.LogisticRegression")

# %% [markdown]
# ## 7. Maxout
#
# A maxout unit does not apply a fixed non-linearity: it computes several affine maps
# of the same input, the **pieces**, and keeps the largest. With $P$ pieces and $m$
# outputs,
#
# $$y_j = \max_{p = 1, \dots, P} \bigl(w_{p,j}^\top x + b_{p,j}\bigr), \qquad 1 \le j \le m,$$
#
# so the layer holds one weight matrix $W_p$ of shape $[m, d]$ and one bias $b_p$ of
# shape $[m]$ per piece: `weight` has shape `[pieces, out, in]` and `bias` shape
# `[pieces, out]`. For two pieces this is the lecture's
# $\max(w_1^\top x + b_1,\ w_2^\top x + b_2)$.
#
# Each output is a maximum of affine functions of $x$, hence a convex, piecewise
# linear function; with enough pieces it approximates any convex function. ReLU is
# the special case $\max(w^\top x + b, 0)$ (second piece all zeros), leaky ReLU and
# $|x|$ are others. The price: $P$ times the parameters of a linear layer.
#
# **Computing it without a loop.** `X @ weight.transpose(-1, -2)` broadcasts the
# batch against the pieces and gives shape `[pieces, n, out]`; add
# `bias.unsqueeze(1)` and take the maximum over dimension 0 (`amax`, or
# `max(...).values`). Alternatively, view the weight as one big `[pieces * out, in]`
# matrix, apply it once, and reshape. Autograd differentiates the maximum for you: the
# gradient goes to the winning piece.


# %%
class Maxout(nn.Module):
    """y[:, j] = max over p of (x @ weight[p].T + bias[p])[:, j]."""

    def __init__(self, in_features: int, out_features: int, pieces: int = 2):
        """Create weight [pieces, out, in] and bias [pieces, out], uniform in +-1/sqrt(in)."""
        super().__init__()
        raise NotImplementedError("Lab 5: implement Maxout.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the maximum over the pieces, shape [n, out_features]."""
        raise NotImplementedError("Lab 5: implement Maxout.forward")


# %% [markdown]
# Below, a maxout unit with one input and one output. On the left its pieces are set
# by hand to tangent lines of $x^2$: their maximum is a convex, piecewise linear
# approximation from below that improves with the number of pieces. On the right, two
# pieces $x$ and $0$ give back ReLU.


# %% tags=["skip-grading"]
def plot_maxout():
    """Maxout as a convex piecewise-linear function: tangents of x^2, and ReLU."""
    x = torch.linspace(-2, 2, 401).unsqueeze(1)
    try:
        curves = {}
        for pieces in (3, 7):
            unit = Maxout(1, 1, pieces=pieces)
            t = torch.linspace(-2, 2, pieces)
            with torch.no_grad():  # tangent of x^2 at t: 2 t x - t^2
                unit.weight.copy_((2 * t).reshape(pieces, 1, 1))
                unit.bias.copy_((-(t**2)).reshape(pieces, 1))
                curves[pieces] = unit(x).squeeze(1)
        relu_unit = Maxout(1, 1, pieces=2)
        with torch.no_grad():
            relu_unit.weight.copy_(torch.tensor([1.0, 0.0]).reshape(2, 1, 1))
            relu_unit.bias.zero_()
            relu_curve = relu_unit(x).squeeze(1)
    except NotImplementedError:
        print("implement Maxout first, then run this cell again")
        return
    xs = x.squeeze(1).numpy()
    _, (ax_c, ax_r) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_c.plot(xs, xs**2, "k--", label="$x^2$")
    for pieces, curve in curves.items():
        ax_c.plot(xs, curve.numpy(), label=f"maxout, {pieces} pieces")
    ax_c.set_title("maximum of tangent lines")
    ax_c.legend()
    ax_r.plot(xs, relu_curve.numpy(), color="tab:green")
    ax_r.set_title("max(x, 0): ReLU as a maxout unit")
    for ax in (ax_c, ax_r):
        ax.grid(alpha=0.3)
        ax.set_xlabel("x")
    plt.tight_layout()
    plt.show()


plot_maxout()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab5.Maxout")

# %% [markdown]
# ## Wrapping up
#
# Every model of this lab is a `Module`: it creates its parameters once, in
# `__init__`, and describes the computation in `forward`. Larger models are built by
# nesting smaller ones, and `parameters()` collects everything, which is all a training
# loop needs. You also met two ancestors of today's networks: the perceptron, with its
# step and its error-driven rule, which fails on XOR; and logistic regression, the same
# model made smooth so that gradients can train it. Maxout showed that the
# non-linearity itself can be learned. In the next lab you write the optimisers and the
# training loop that use these modules.
