# %% [markdown]
# # Lab 2: activation functions
#
# A network that only stacks affine maps $W x + b$ is still one affine map, however
# deep it is. The non-linearity comes from the activation function applied after
# each layer, element by element (or, for softmax, along one dimension). In this lab
# you write the usual activations yourself, together with their gradients, so that
# they can be dropped into a real PyTorch model and trained.
#
# **What you implement.** Nine activations: sigmoid, tanh, ReLU, leaky ReLU, ELU,
# softplus, the Heaviside step, PReLU (a leaky ReLU with a learnable slope) and
# softmax. At the end, four short derivations done by hand with sympy.
#
# **Conventions (the grader relies on them).**
#
# - Each activation is a subclass of `torch.autograd.Function` with two static
#   methods, `forward(ctx, ...)` and `backward(ctx, grad_output)`, plus a plain
#   function that calls `.apply` (for example `class Sigmoid(Function)` and
#   `def sigmoid(x)`). The plain functions are given; you fill in `forward` and
#   `backward`.
# - `forward` computes the output and stores in `ctx` what the gradient will need
#   (tensors with `ctx.save_for_backward(...)`, plain numbers as attributes such as
#   `ctx.alpha`). `backward` receives $g = \partial L / \partial y$ and returns
#   $\partial L / \partial x$, one value per input of `forward`; inputs that are not
#   tensors (`negative_slope`, `alpha`, `dim`) get `None`.
# - Inside `forward` and `backward` you may **not** call the PyTorch function that
#   solves the exercise: no `torch.sigmoid` in `Sigmoid`, no `torch.tanh` in `Tanh`,
#   no `torch.relu`, `F.elu`, `F.softplus`, `torch.softmax`, `x.sigmoid()` and so on.
#   The grader detects this and gives zero points for that exercise. Building blocks
#   such as `torch.exp`, `torch.log1p`, `torch.expm1`, `torch.where`, `clamp`, `abs`
#   or `amax` are fine.
# - Your code must work for `float32` and `float64`, on CPU and on CUDA, and return
#   a result with the dtype and on the device of its input.
# - At a kink, use the value PyTorch's autograd uses:
#   ReLU'(0) = 0, LeakyReLU'(0) = `negative_slope`, and ELU'(0) = $\alpha e^0 = \alpha$
#   (which is 1 for the default $\alpha = 1$). The step function is
#   Heaviside(0) = 1, and its backward returns zeros.
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab2_activations.ipynb` in a terminal.

# %%
import sympy
import torch
from torch.autograd import Function

# %% tags=["skip-grading"]
import matplotlib.pyplot as plt


def plot_activation(fn, name, **kwargs):
    """Plot fn on [-4, 4] next to its derivative, computed by autograd."""
    x = torch.linspace(-4, 4, 401, dtype=torch.float64, requires_grad=True)
    try:
        y = fn(x, **kwargs)
        if y.requires_grad:
            y.sum().backward()
    except NotImplementedError:
        print(f"implement {name} first, then run this cell again")
        return
    grad = x.grad if x.grad is not None else torch.zeros_like(x)
    xs = x.detach().numpy()
    _, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_f.plot(xs, y.detach().numpy())
    ax_f.set_title(name)
    ax_d.plot(xs, grad.numpy(), color="tab:orange")
    ax_d.set_title(f"derivative of {name}")
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.axvline(0, color="gray", linewidth=0.5)
        ax.grid(alpha=0.3)
        ax.set_xlabel("x")
    plt.show()


# %% [markdown]
# ## 1. Sigmoid
#
# The sigmoid is a smooth version of the perceptron's step: it squashes any real
# number into $(0, 1)$, which is why it is used to output a probability (logistic
# regression, binary classification).
#
# $$\sigma(x) = \frac{1}{1 + e^{-x}}, \qquad
# \sigma'(x) = \sigma(x)\,\bigl(1 - \sigma(x)\bigr).$$
#
# The derivative is at most $1/4$ (at $x = 0$) and almost zero once $|x|$ is a few
# units: the sigmoid **saturates**. Stack many sigmoid layers and the gradients
# that reach the first layers shrink towards zero (vanishing gradients).
#
# **Stability.** For $x = -10^4$, $e^{-x}$ overflows to `inf`. Only ever
# exponentiate a non-positive number: with $e = e^{-|x|} \in (0, 1]$,
#
# $$\sigma(x) = \frac{1}{1 + e} \text{ if } x \ge 0, \qquad
# \sigma(x) = \frac{e}{1 + e} \text{ if } x < 0.$$
#
# **Backward.** The derivative only needs the output, so save $y = \sigma(x)$ and
# return $g \cdot y (1 - y)$.


# %%
class Sigmoid(Function):
    """Logistic sigmoid, 1 / (1 + exp(-x))."""

    @staticmethod
    def forward(ctx, x):
        """Return sigmoid(x), saving the output for backward."""
        raise NotImplementedError("Lab 2: implement Sigmoid.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return grad_output * sigmoid'(x), from the saved output."""
        raise NotImplementedError("Lab 2: implement Sigmoid.backward")


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Element-wise sigmoid of x."""
    return Sigmoid.apply(x)


# %% tags=["skip-grading"]
plot_activation(sigmoid, "sigmoid")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.sigmoid")

# %% [markdown]
# ## 2. Hyperbolic tangent
#
# $\tanh$ has the same S shape as the sigmoid, but its values lie in $(-1, 1)$ and it
# is centred on zero (in fact $\tanh(x) = 2\sigma(2x) - 1$). Zero-centred
# activations usually make optimisation easier. It saturates just like the sigmoid.
#
# $$\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}, \qquad
# \tanh'(x) = 1 - \tanh^2(x).$$
#
# **Stability.** $\tanh$ is odd, so compute it for $|x|$ and put the sign back.
# With $e = e^{-2|x|} \in (0, 1]$, $\tanh(|x|) = (1 - e) / (1 + e)$; for tiny $|x|$,
# write the numerator as $-\operatorname{expm1}(-2|x|)$ so it does not round to zero.
#
# **Backward.** Save the output $y$ and return $g \cdot (1 - y^2)$.


# %%
class Tanh(Function):
    """Hyperbolic tangent."""

    @staticmethod
    def forward(ctx, x):
        """Return tanh(x), saving the output for backward."""
        raise NotImplementedError("Lab 2: implement Tanh.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return grad_output * (1 - tanh(x)**2), from the saved output."""
        raise NotImplementedError("Lab 2: implement Tanh.backward")


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Element-wise hyperbolic tangent of x."""
    return Tanh.apply(x)


# %% tags=["skip-grading"]
plot_activation(tanh, "tanh")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.tanh")

# %% [markdown]
# ## 3. ReLU
#
# The rectified linear unit keeps positive inputs and zeroes the rest. It is cheap,
# and for $x > 0$ its slope is exactly 1, so it does not saturate on that side:
# this is the default activation of most modern networks.
#
# $$\operatorname{ReLU}(x) = \max(0, x), \qquad
# \operatorname{ReLU}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}$$
#
# The kink at 0 has no derivative; like PyTorch, we use $\operatorname{ReLU}'(0) = 0$.
# The weak spot is the other side: a unit whose input is negative for every example
# gets no gradient at all and may never recover (a **dead neuron**).
#
# Make sure a `nan` input gives a `nan` output, as in PyTorch (a comparison with
# `nan` is always false, so choose your condition with care).


# %%
class ReLU(Function):
    """Rectified linear unit, max(0, x)."""

    @staticmethod
    def forward(ctx, x):
        """Return max(0, x), saving the input for backward."""
        raise NotImplementedError("Lab 2: implement ReLU.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Pass grad_output where x > 0 and zero elsewhere (also at 0)."""
        raise NotImplementedError("Lab 2: implement ReLU.backward")


def relu(x: torch.Tensor) -> torch.Tensor:
    """Element-wise ReLU of x."""
    return ReLU.apply(x)


# %% tags=["skip-grading"]
plot_activation(relu, "relu")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.relu")

# %% [markdown]
# ## 4. Leaky ReLU
#
# To avoid dead neurons, leaky ReLU lets a small slope $\varepsilon$ (the argument
# `negative_slope`, 0.01 by default) through for negative inputs:
#
# $$\operatorname{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ \varepsilon x & x \le 0
# \end{cases}, \qquad
# \operatorname{LeakyReLU}'(x) = \begin{cases} 1 & x > 0 \\ \varepsilon & x \le 0
# \end{cases}$$
#
# (For $0 \le \varepsilon \le 1$ this is also $\max(\varepsilon x, x)$.) At the kink,
# PyTorch uses $\operatorname{LeakyReLU}'(0) = \varepsilon$, and so do we.
# `negative_slope` is a plain number: keep it in `ctx` and return `None` as its
# gradient.


# %%
class LeakyReLU(Function):
    """Leaky ReLU: x for x > 0, negative_slope * x otherwise."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        """Return leaky_relu(x), saving x and the slope for backward."""
        raise NotImplementedError("Lab 2: implement LeakyReLU.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return the gradient for x, and None for negative_slope."""
        raise NotImplementedError("Lab 2: implement LeakyReLU.backward")


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """Element-wise leaky ReLU of x."""
    return LeakyReLU.apply(x, negative_slope)


# %% tags=["skip-grading"]
plot_activation(leaky_relu, "leaky_relu", negative_slope=0.1)

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.leaky_relu")

# %% [markdown]
# ## 5. ELU
#
# The exponential linear unit is the identity for positive inputs and bends smoothly
# towards $-\alpha$ for negative ones. Negative outputs push the mean activation
# towards zero, and the gradient never becomes exactly zero.
#
# $$\operatorname{ELU}(x) = \begin{cases} x & x > 0 \\ \alpha\,(e^{x} - 1) & x \le 0
# \end{cases}, \qquad
# \operatorname{ELU}'(x) = \begin{cases} 1 & x > 0 \\ \alpha\, e^{x} & x \le 0
# \end{cases}$$
#
# At $x = 0$ we follow PyTorch and use the left branch: $\operatorname{ELU}'(0) =
# \alpha$, which is 1 for the default $\alpha = 1$ (then ELU is smooth at 0).
#
# `torch.expm1(x)` computes $e^x - 1$ accurately even when $x$ is tiny.


# %%
class ELU(Function):
    """Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise."""

    @staticmethod
    def forward(ctx, x, alpha):
        """Return elu(x), saving x and alpha for backward."""
        raise NotImplementedError("Lab 2: implement ELU.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return the gradient for x, and None for alpha."""
        raise NotImplementedError("Lab 2: implement ELU.backward")


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Element-wise ELU of x."""
    return ELU.apply(x, alpha)


# %% tags=["skip-grading"]
plot_activation(elu, "elu")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.elu")

# %% [markdown]
# ## 6. Softplus
#
# Softplus (the "soft ReLU" of the lecture) is a smooth approximation of ReLU.
# Its derivative is exactly the sigmoid:
#
# $$\operatorname{softplus}(x) = \log(1 + e^{x}), \qquad
# \operatorname{softplus}'(x) = \frac{e^x}{1 + e^x} = \sigma(x).$$
#
# **Stability.** Written as above, $e^{x}$ overflows for $x = 10^4$ and the result is
# `inf`. Split off the large part instead:
#
# $$\operatorname{softplus}(x) = \max(x, 0) + \log\bigl(1 + e^{-|x|}\bigr),$$
#
# where the exponent is never positive; use `torch.log1p` for $\log(1 + \cdot)$.
#
# **Backward.** Any stable way of computing $\sigma(x)$ works. A neat one uses the
# saved output $y$: since $e^{-y} = 1 / (1 + e^{x}) = 1 - \sigma(x)$, we get
# $\sigma(x) = 1 - e^{-y} = -\operatorname{expm1}(-y)$.


# %%
class Softplus(Function):
    """Softplus, log(1 + exp(x)), with beta = 1."""

    @staticmethod
    def forward(ctx, x):
        """Return softplus(x) computed stably, saving the output for backward."""
        raise NotImplementedError("Lab 2: implement Softplus.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return grad_output * sigmoid(x), using 1 - exp(-y) = sigmoid(x)."""
        raise NotImplementedError("Lab 2: implement Softplus.backward")


def softplus(x: torch.Tensor) -> torch.Tensor:
    """Element-wise softplus of x."""
    return Softplus.apply(x)


# %% tags=["skip-grading"]
plot_activation(softplus, "softplus")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.softplus")

# %% [markdown]
# ## 7. Heaviside step
#
# The step function is the activation of the perceptron:
#
# $$H(x) = \begin{cases} 1 & x \ge 0 \\ 0 & x < 0 \end{cases}$$
#
# so $H(0) = 1$. Its derivative is $0$ everywhere except at $0$, where it does not
# exist. Our backward returns zeros: no gradient flows through a step, which is
# exactly why gradient-based training needs a smooth replacement such as the
# sigmoid.
#
# Careful with the dtype: a comparison such as `x >= 0` gives a `bool` tensor, so
# convert it to the dtype of `x`.


# %%
class Heaviside(Function):
    """Heaviside step: 1 for x >= 0, 0 otherwise."""

    @staticmethod
    def forward(ctx, x):
        """Return the step function of x, in the dtype of x."""
        raise NotImplementedError("Lab 2: implement Heaviside.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return zeros: the step has no useful gradient."""
        raise NotImplementedError("Lab 2: implement Heaviside.backward")


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """Element-wise Heaviside step of x, with heaviside(0) = 1."""
    return Heaviside.apply(x)


# %% tags=["skip-grading"]
plot_activation(heaviside, "heaviside")

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.heaviside")

# %% [markdown]
# ## 8. PReLU
#
# Parametric ReLU is a leaky ReLU whose negative slope $a$ is **learned** along with
# the weights:
#
# $$\operatorname{PReLU}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases},
# \qquad
# \frac{\partial y}{\partial x} = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases},
# \qquad
# \frac{\partial y}{\partial a} = \begin{cases} 0 & x > 0 \\ x & x \le 0 \end{cases}$$
#
# Shapes follow `torch.nn.functional.prelu`: `a` has shape `[1]` (one slope shared by
# every element) or `[C]` with `C = x.shape[1]` (one slope per channel; dimension 1
# is the channel dimension, e.g. `[N, C]` or `[N, C, H, W]`). Reshape `a` so that it
# broadcasts against `x` (for instance to `[1, C, 1, 1]`).
#
# `backward` returns two gradients. The one for `x` has the shape of `x`. The one for
# `a` must have the shape of `a`: since one slope acts on many elements, add up the
# contributions $g \cdot \partial y / \partial a$ over every dimension except the
# channel dimension (and over everything when `a` has shape `[1]`).


# %%
class PReLU(Function):
    """Parametric ReLU with a learnable slope a (one per channel, or shared)."""

    @staticmethod
    def forward(ctx, x, a):
        """Return prelu(x, a), saving x and a for backward."""
        raise NotImplementedError("Lab 2: implement PReLU.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return the gradients for x and for a (the latter shaped like a)."""
        raise NotImplementedError("Lab 2: implement PReLU.backward")


def prelu(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """PReLU of x with slope a of shape [1] or [x.shape[1]]."""
    return PReLU.apply(x, a)


# %% tags=["skip-grading"]
plot_activation(prelu, "prelu", a=torch.tensor([0.25], dtype=torch.float64))

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.prelu")

# %% [markdown]
# ## 9. Softmax
#
# Softmax turns a vector of $K$ scores (logits) into a probability distribution: it
# exponentiates and then normalises. It generalises the sigmoid to $K$ classes, and
# the larger the scores, the more it concentrates on the largest one.
#
# $$\operatorname{softmax}(x)_i = y_i = \frac{e^{x_i}}{\sum_{j=1}^{K} e^{x_j}}, \qquad
# \frac{\partial y_i}{\partial x_j} = y_i\,(\delta_{ij} - y_j).$$
#
# It acts along one dimension `dim` (the last one by default): each slice along
# `dim` is normalised on its own.
#
# **Stability.** With logits around $10^4$, $e^{x_i}$ overflows. Softmax does not
# change when the same constant is added to every logit, so subtract the maximum
# along `dim` first (`amax` with `keepdim=True`): all exponents are then $\le 0$ and
# the largest term is $e^0 = 1$.
#
# **Backward.** The Jacobian is a $K \times K$ matrix per slice, but we never need
# to build it. Autograd only asks for the vector-Jacobian product with the incoming
# gradient $g$:
#
# $$\frac{\partial L}{\partial x_j} = \sum_i g_i\, y_i (\delta_{ij} - y_j)
# = y_j \Bigl(g_j - \sum_i g_i y_i\Bigr),$$
#
# that is `y * (g - (g * y).sum(dim, keepdim=True))`, with the saved output `y`.


# %%
class Softmax(Function):
    """Softmax along one dimension."""

    @staticmethod
    def forward(ctx, x, dim):
        """Return softmax(x) along dim, computed stably; save the output."""
        raise NotImplementedError("Lab 2: implement Softmax.forward")

    @staticmethod
    def backward(ctx, grad_output):
        """Return the vector-Jacobian product for x, and None for dim."""
        raise NotImplementedError("Lab 2: implement Softmax.backward")


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of x along dimension dim."""
    return Softmax.apply(x, dim)


# %% tags=["skip-grading"]
# With two logits [t, 0], the first probability is sigmoid(t).
plot_activation(
    lambda t: softmax(torch.stack([t, torch.zeros_like(t)], dim=-1))[..., 0],
    "softmax (first of two)",
)

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.softmax")

# %% [markdown]
# ## Derivations
#
# Now the same derivatives on paper. Each function below receives sympy symbols
# (`x`, and `alpha` for ELU) and returns the derivative as a sympy expression that
# **you derived by hand**. Any correct form is accepted, for instance one written in
# terms of the function itself, such as $\sigma(x)(1 - \sigma(x))$.
#
# - `d_sigmoid(x)`: derivative of $\sigma(x) = 1 / (1 + e^{-x})$;
# - `d_tanh(x)`: derivative of $\tanh(x)$;
# - `d_softplus(x)`: derivative of $\log(1 + e^{x})$;
# - `d_elu(x, alpha)`: derivative of the negative branch $\alpha (e^{x} - 1)$ of ELU
#   (the case $x < 0$).
#
# The grader compares your expression with its own derivative symbolically; if
# sympy cannot decide whether the two are equal, it compares their values at a few
# points instead. Since the exercise is the derivation itself, `sympy.diff` (and
# other ways of letting sympy differentiate for you) is not allowed here. Use
# `sympy.exp`, `sympy.tanh`, `sympy.log` and ordinary arithmetic.


# %%
def d_sigmoid(x: sympy.Symbol) -> sympy.Expr:
    """Derivative of the sigmoid 1 / (1 + exp(-x)), derived by hand."""
    raise NotImplementedError("Lab 2: implement d_sigmoid")


def d_tanh(x: sympy.Symbol) -> sympy.Expr:
    """Derivative of tanh(x), derived by hand."""
    raise NotImplementedError("Lab 2: implement d_tanh")


def d_softplus(x: sympy.Symbol) -> sympy.Expr:
    """Derivative of log(1 + exp(x)), derived by hand."""
    raise NotImplementedError("Lab 2: implement d_softplus")


def d_elu(x: sympy.Symbol, alpha: sympy.Symbol) -> sympy.Expr:
    """Derivative of alpha * (exp(x) - 1), the branch x < 0 of ELU."""
    raise NotImplementedError("Lab 2: implement d_elu")


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab2.d_sigmoid")
check("lab2.d_tanh")
check("lab2.d_softplus")
check("lab2.d_elu")

# %% [markdown]
# ## Wrapping up
#
# You now have nine activations that autograd can differentiate, each with a
# gradient you wrote yourself. Notice the recurring themes: saturation (sigmoid,
# tanh), dead units and their remedies (leaky ReLU, PReLU, ELU), and numerical
# stability, which almost always comes down to exponentiating only non-positive
# numbers (sigmoid, softplus, softmax). In the next lab these pieces meet the loss
# functions.
