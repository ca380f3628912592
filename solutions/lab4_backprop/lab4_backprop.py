# %% [markdown]
# # Lab 4: backpropagation
#
# Training a network means following the gradient of the loss with respect to every
# weight. Writing those derivatives out by hand for each new architecture would be
# hopeless; backpropagation gets all of them in one sweep by applying the chain rule
# backwards through the computation, from the loss to the inputs. This lab takes the
# machinery apart: first on a three-variable expression, then as a tiny automatic
# differentiation engine for scalars, then on real tensors, ending with the complete
# backward pass of a two-layer network written by hand.
#
# **What you implement.**
#
# 1. `chain_rule_grads`: the gradient of $f = (x + y)\,z$, step by step.
# 2. `Value`: a scalar autograd engine (a number that remembers how it was computed).
# 3. `numerical_gradient`: finite differences, the tool that checks every gradient.
# 4. `LinearFunction`: the affine layer $x W^\top + b$ as a `torch.autograd.Function`.
# 5. `mlp2_loss_and_grads`: loss and gradients of Linear, ReLU, Linear, MSE by hand.
#
# **Conventions (the grader relies on them).**
#
# - `chain_rule_grads(x, y, z)` returns a tuple of three Python `float`s,
#   $(\partial f/\partial x, \partial f/\partial y, \partial f/\partial z)$, obtained
#   with the chain rule through the intermediate $q = x + y$.
# - `Value(data)` stores `data` as a Python `float` in `.data`; `.grad` is a Python
#   `float` that starts at `0.0`. Supported: `a + b`, `a - b`, `a * b`, `a / b`,
#   `-a`, `a ** p` where `p` is a plain `int` or `float` (never a `Value`), the same
#   operators with a plain number on the left (`2 + a`, `2 - a`, `2 * a`, `2 / a`),
#   and the methods `exp()`, `log()`, `tanh()`, `relu()` and `sigmoid()`. A plain
#   number used as an operand is wrapped in a `Value` (it gets a gradient too, which
#   nobody reads). As in PyTorch, $\operatorname{relu}'(0) = 0$ and
#   $\frac{d}{da} a^0 = 0$.
# - `v.backward()` sets `v.grad = 1.0` and then visits the nodes in reverse
#   topological order, so that a node used several times **adds up** (`+=`) the
#   gradient coming from each use. It is called once, on a freshly built graph:
#   it does not need to reset old gradients. Values are kept inside the domain of
#   each operation (positive arguments of `log`, non-zero divisors, a positive base
#   for a fractional power, no overflow in `exp`); outside it, whatever Python's
#   `math` does is fine.
# - `numerical_gradient(f, x, eps=1e-6)` returns a tensor with the shape, dtype and
#   device of `x`, computed with central differences. `f` maps a tensor shaped like
#   `x` to a 0-dim tensor or a Python number. When it returns, `x` holds exactly the
#   values it had before. No autograd.
# - `LinearFunction.forward(ctx, x, W, b)` takes `x` of shape `[n, d]`, `W` of shape
#   `[k, d]` and `b` of shape `[k]`, and returns `x @ W.T + b` of shape `[n, k]`.
#   `backward(ctx, g)` returns the three gradients `(dx, dW, db)`, shaped like
#   `x`, `W` and `b`. The plain function `linear(x, W, b)` is given.
# - `mlp2_loss_and_grads(X, Y, W1, b1, W2, b2)` returns `(loss, grads)`: `loss` is a
#   0-dim tensor, the mean of the squared errors over **all** $n \times k$ entries of
#   `Y`, and `grads` is the dict `{"W1": ..., "b1": ..., "W2": ..., "b2": ...}` with
#   each gradient shaped like its parameter. ReLU'(0) = 0.
# - Every tensor you return has the dtype and the device of the inputs (`float32` or
#   `float64`, CPU or CUDA).
#
# **Not allowed.** `torch.nn.functional.linear`, `torch.nn.Linear`, `torch.addmm`
# and `torch.baddbmm` in `LinearFunction`. No autograd at all in
# `numerical_gradient` and `mlp2_loss_and_grads`: no `.backward()`, no
# `torch.autograd.grad`, no `requires_grad`. The grader detects forbidden calls and
# gives zero points for that exercise. `Value` works on Python floats: the `math`
# module has everything it needs.
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab4_backprop.ipynb` in a terminal.

# %%
import math

import torch
from torch.autograd import Function

# %% tags=["skip-grading"]
import matplotlib.pyplot as plt

# %% [markdown]
# ## 1. The chain rule on a small graph
#
# Take $f(x, y, z) = (x + y)\,z$. Name the intermediate result, $q = x + y$, so that
# $f = q\,z$. Each of the two operations is trivial to differentiate on its own:
#
# $$\frac{\partial q}{\partial x} = 1, \quad \frac{\partial q}{\partial y} = 1,
# \qquad \frac{\partial f}{\partial q} = z, \quad \frac{\partial f}{\partial z} = q.$$
#
# The chain rule glues these **local** derivatives together. The variable $x$ only
# influences $f$ through $q$, so
#
# $$\frac{\partial f}{\partial x} = \frac{\partial f}{\partial q}\,
# \frac{\partial q}{\partial x} = z \cdot 1, \qquad
# \frac{\partial f}{\partial y} = \frac{\partial f}{\partial q}\,
# \frac{\partial q}{\partial y} = z \cdot 1, \qquad
# \frac{\partial f}{\partial z} = q = x + y.$$
#
# This is backpropagation in miniature. A **forward pass** computes $q$ and $f$ and
# keeps them; a **backward pass** starts from $\partial f / \partial f = 1$ at the
# output and, at every operation, multiplies the gradient arriving from above (the
# *upstream* gradient) by the operation's local derivative. Two patterns are worth
# remembering: an addition hands the upstream gradient unchanged to both inputs,
# and a multiplication hands each input the upstream gradient times the *other*
# input.
#
# With $x = 1$, $y = -3$, $z = 4$: $q = -2$, $f = -8$, and the gradient is
# $(4, 4, -2)$. Write the function the way the backward pass works: forward values
# first, then the gradients from the output down. Return plain `float`s.


# %%
def chain_rule_grads(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Return (df/dx, df/dy, df/dz) for f = (x + y) * z, by the chain rule."""
    ### BEGIN SOLUTION
    # Forward pass.
    q = x + y
    # Backward pass, starting from df/df = 1.
    df_df = 1.0
    df_dq = df_df * z
    df_dz = df_df * q
    df_dx = df_dq * 1.0
    df_dy = df_dq * 1.0
    return float(df_dx), float(df_dy), float(df_dz)
    ### END SOLUTION


# %% [markdown]
# The figure draws the computation as a graph. Above each arrow, in green, is the
# value that flows forward; below it, in red, the gradient of $f$ with respect to
# that value, which flows backward.


# %% tags=["skip-grading"]
def draw_chain_rule_graph(x=1.0, y=-3.0, z=4.0):
    """Draw f = (x + y) * z with forward values and backward gradients."""
    try:
        df_dx, df_dy, df_dz = chain_rule_grads(x, y, z)
    except NotImplementedError:
        print("implement chain_rule_grads first, then run this cell again")
        return
    q, f = x + y, (x + y) * z
    nodes = {
        "x": (0.0, 2.6),
        "y": (0.0, 1.0),
        "z": (0.0, -0.6),
        "+": (2.5, 1.8),
        "×": (5.0, 0.8),
        "f": (7.5, 0.8),
    }
    # (start, end, forward value, gradient of f with respect to that value)
    edges = [
        ("x", "+", x, df_dx),
        ("y", "+", y, df_dy),
        ("+", "×", q, z),
        ("z", "×", z, df_dz),
        ("×", "f", f, 1.0),
    ]
    _, ax = plt.subplots(figsize=(9, 4))
    for name, (px, py) in nodes.items():
        operation = name in ("+", "×")
        ax.text(
            px,
            py,
            name,
            ha="center",
            va="center",
            fontsize=14,
            bbox={
                "boxstyle": "circle" if operation else "round,pad=0.4",
                "facecolor": "lightsteelblue" if operation else "white",
            },
        )
    for start, end, value, grad in edges:
        (x0, y0), (x1, y1) = nodes[start], nodes[end]
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "->", "shrinkA": 16, "shrinkB": 16},
        )
        mx, my = x0 + 0.45 * (x1 - x0), y0 + 0.45 * (y1 - y0)
        ax.text(mx, my + 0.12, f"{value:g}", color="green", ha="center", va="bottom")
        ax.text(mx, my - 0.12, f"{grad:g}", color="red", ha="center", va="top")
    ax.set_xlim(-0.7, 8.2)
    ax.set_ylim(-1.0, 3.0)
    ax.axis("off")
    ax.set_title("f = (x + y) z: forward values (green), gradients of f (red)")
    plt.show()


draw_chain_rule_graph()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab4.chain_rule_grads")

# %% [markdown]
# ## 2. A scalar autograd engine
#
# Section 1 handled one fixed expression. To differentiate *any* expression, let the
# numbers record their own history. A `Value` holds a number (`.data`) and, once
# `backward()` has run, the derivative of the final output with respect to it
# (`.grad`). Every operation on `Value`s returns a new `Value` that remembers its
# inputs and the local derivative with respect to each of them. Evaluating an
# expression therefore builds its computation graph as a side effect.
#
# The local derivatives, for an output $o$ and inputs $a$, $b$:
#
# | operation | $o$ | $\partial o / \partial a$ | $\partial o / \partial b$ |
# | --- | --- | --- | --- |
# | `a + b` | $a + b$ | $1$ | $1$ |
# | `a * b` | $a b$ | $b$ | $a$ |
# | `a ** p` | $a^p$ | $p\, a^{p-1}$ | |
# | `a.exp()` | $e^a$ | $e^a = o$ | |
# | `a.log()` | $\ln a$ | $1 / a$ | |
# | `a.tanh()` | $\tanh a$ | $1 - o^2$ | |
# | `a.relu()` | $\max(0, a)$ | $1$ if $a > 0$, else $0$ | |
# | `a.sigmoid()` | $\sigma(a)$ | $o\,(1 - o)$ | |
#
# Everything else can be built from these: $-a = a \cdot (-1)$,
# $a - b = a + (-b)$ and $a / b = a \cdot b^{-1}$, and the reversed forms such as
# `2 - a` (Python calls `a.__rsub__(2)` when `int` does not know how to subtract a
# `Value`) come down to wrapping the number in a `Value` first.
#
# **Backward.** Write $\bar v = \partial L / \partial v$ for the gradient of the
# output $L$ with respect to a node $v$. When $v$ feeds several later nodes $c$, it
# influences $L$ along each of them, and the multivariable chain rule adds the
# contributions:
#
# $$\bar v = \sum_{c \text{ uses } v} \bar c\, \frac{\partial c}{\partial v}.$$
#
# Hence the `+=`: in `b = a * a`, or `c = a + a`, the node `a` receives one
# contribution per use. A node may only pass its gradient on once that sum is
# complete, that is, after every node that uses it has been processed. A
# **topological order** lists each node after all of its inputs; walking it in
# reverse, from the output down, guarantees exactly that. So `backward()`:
#
# 1. collects the nodes of the graph in topological order (a depth-first search that
#    appends a node after its inputs; an explicit stack avoids Python's recursion
#    limit on long chains);
# 2. sets `self.grad = 1.0`;
# 3. for each node in reverse order, adds `node.grad * local` to the `.grad` of each
#    input, where `local` is the stored local derivative.
#
# **Stability.** For `sigmoid`, exponentiate only $-|a|$, as in Lab 2:
# $\sigma(a) = 1 / (1 + e^{-a})$ for $a \ge 0$ and $e^{a} / (1 + e^{a})$ otherwise.
#
# The skeleton below suggests storing the inputs as `(input, local derivative)`
# pairs; you may organise the internals differently, as long as `.data`, `.grad`,
# the operators and the methods behave as described.


# %%
class Value:
    """A scalar that records the operations applied to it, for reverse-mode autodiff."""

    def __init__(self, data, _inputs=(), _op=""):
        """Wrap a number; `_inputs` holds (input Value, d self / d input) pairs."""
        ### BEGIN SOLUTION
        self.data = float(data)
        self.grad = 0.0
        self._inputs = tuple(_inputs)
        self._op = _op
        ### END SOLUTION

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def __add__(self, other):
        """self + other."""
        ### BEGIN SOLUTION
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, ((self, 1.0), (other, 1.0)), "+")
        ### END SOLUTION

    def __radd__(self, other):
        """other + self, where other is a plain number."""
        ### BEGIN SOLUTION
        return self + other
        ### END SOLUTION

    def __mul__(self, other):
        """self * other."""
        ### BEGIN SOLUTION
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, ((self, other.data), (other, self.data)), "*")
        ### END SOLUTION

    def __rmul__(self, other):
        """other * self, where other is a plain number."""
        ### BEGIN SOLUTION
        return self * other
        ### END SOLUTION

    def __pow__(self, p):
        """self ** p, for a plain number p (int or float)."""
        ### BEGIN SOLUTION
        if not isinstance(p, int | float):
            raise TypeError("the exponent must be a plain int or float")
        local = 0.0 if p == 0 else p * self.data ** (p - 1)
        return Value(self.data**p, ((self, local),), f"**{p}")
        ### END SOLUTION

    def __neg__(self):
        """-self."""
        ### BEGIN SOLUTION
        return self * -1.0
        ### END SOLUTION

    def __sub__(self, other):
        """self - other."""
        ### BEGIN SOLUTION
        return self + (-other)
        ### END SOLUTION

    def __rsub__(self, other):
        """other - self, where other is a plain number."""
        ### BEGIN SOLUTION
        return Value(other) + (-self)
        ### END SOLUTION

    def __truediv__(self, other):
        """self / other."""
        ### BEGIN SOLUTION
        other = other if isinstance(other, Value) else Value(other)
        return self * other**-1
        ### END SOLUTION

    def __rtruediv__(self, other):
        """other / self, where other is a plain number."""
        ### BEGIN SOLUTION
        return Value(other) * self**-1
        ### END SOLUTION

    def exp(self):
        """e ** self."""
        ### BEGIN SOLUTION
        e = math.exp(self.data)
        return Value(e, ((self, e),), "exp")
        ### END SOLUTION

    def log(self):
        """Natural logarithm of self (self.data > 0)."""
        ### BEGIN SOLUTION
        return Value(math.log(self.data), ((self, 1.0 / self.data),), "log")
        ### END SOLUTION

    def tanh(self):
        """Hyperbolic tangent of self."""
        ### BEGIN SOLUTION
        t = math.tanh(self.data)
        return Value(t, ((self, 1.0 - t * t),), "tanh")
        ### END SOLUTION

    def relu(self):
        """max(0, self), with derivative 0 at 0."""
        ### BEGIN SOLUTION
        positive = self.data > 0
        return Value(self.data if positive else 0.0, ((self, 1.0 if positive else 0.0),), "relu")
        ### END SOLUTION

    def sigmoid(self):
        """1 / (1 + exp(-self)), computed without overflow."""
        ### BEGIN SOLUTION
        e = math.exp(-abs(self.data))
        s = 1.0 / (1.0 + e) if self.data >= 0 else e / (1.0 + e)
        return Value(s, ((self, s * (1.0 - s)),), "sigmoid")
        ### END SOLUTION

    def backward(self):
        """Fill in .grad of every node of the graph that produced self."""
        ### BEGIN SOLUTION
        # Topological order: a node is appended once all its inputs have been.
        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for parent, _ in node._inputs:
                if id(parent) not in seen:
                    stack.append((parent, False))
        # Reverse order: each node's gradient is complete before it is passed on.
        self.grad = 1.0
        for node in reversed(order):
            for parent, local in node._inputs:
                parent.grad += node.grad * local
        ### END SOLUTION


# %% [markdown]
# A first test: the expression of section 1, then a single neuron
# $\tanh(w_1 x_1 + w_2 x_2 + b)$, each compared with PyTorch's autograd. The last
# line reuses a node (`a * a + a`), so it checks that the gradients accumulate.


# %% tags=["skip-grading"]
def compare_with_torch():
    """Run a few expressions through Value and through torch autograd."""

    def neuron(x1, x2, w1, w2, b):
        return (w1 * x1 + w2 * x2 + b).tanh()

    cases = [
        ("(x + y) * z", lambda x, y, z: (x + y) * z, [1.0, -3.0, 4.0]),
        ("tanh(w1 x1 + w2 x2 + b)", neuron, [2.0, 0.0, -3.0, 1.0, 6.88]),
        ("a * a + a - 1 / a", lambda a: a * a + a - 1 / a, [1.5]),
    ]
    for name, fn, numbers in cases:
        try:
            values = [Value(v) for v in numbers]
            fn(*values).backward()
        except NotImplementedError:
            print("implement Value first, then run this cell again")
            return
        tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in numbers]
        fn(*tensors).backward()
        ours = [v.grad for v in values]
        theirs = [t.grad.item() for t in tensors]
        gap = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
        print(f"{name:26s} grads {[round(g, 4) for g in ours]}  |Value - torch| = {gap:.1e}")


compare_with_torch()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab4.Value")

# %% [markdown]
# ## 3. Numerical gradients
#
# How do we know that a hand-written backward pass is right? By comparing it with
# a gradient that needs no calculus at all. For a scalar function $f$ of a tensor
# $x$, nudge one entry at a time. With $e_i$ the tensor that is $1$ at entry $i$ and
# $0$ elsewhere, the **central difference**
#
# $$\frac{\partial f}{\partial x_i} \approx
# \frac{f(x + \varepsilon e_i) - f(x - \varepsilon e_i)}{2 \varepsilon}$$
#
# is exact up to $O(\varepsilon^2)$ (a Taylor expansion of $f$ around $x$: the
# $\varepsilon^2$ terms of the two sides cancel), whereas the one-sided difference
# $(f(x + \varepsilon e_i) - f(x)) / \varepsilon$ is only $O(\varepsilon)$.
#
# **The choice of $\varepsilon$.** A smaller $\varepsilon$ lowers this *truncation*
# error but increases the *round-off* error: $f$ is only known to about the
# machine precision $u$ ($\approx 10^{-16}$ in `float64`, $\approx 10^{-7}$ in
# `float32`), and dividing the difference of two nearly equal numbers by
# $2\varepsilon$ magnifies that error to roughly $u / \varepsilon$. The total,
# about $\varepsilon^2 + u / \varepsilon$, is smallest near $\varepsilon \approx
# u^{1/3}$: around $10^{-5}$ in `float64` but $10^{-2}$ to $10^{-3}$ in `float32`.
# The default `eps=1e-6` is meant for `float64`, which is why gradient checks
# (including `torch.autograd.gradcheck`) are done in double precision.
#
# **Implementation.** Loop over the entries, evaluate `f` twice per entry and put
# the entry back afterwards. Work on a contiguous copy (`x.detach().clone()`,
# then `.view(-1)` to index it flat) so that the caller's `x` never changes; turn
# each result of `f` into a Python number with `float(...)`, and build the result
# with the dtype and on the device of `x`. The cost is $2 \times$ `x.numel()`
# evaluations of `f`: fine for checking, far too slow for training, which is the
# whole point of backpropagation.


# %%
def numerical_gradient(f, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central-difference estimate of the gradient of the scalar function f at x."""
    ### BEGIN SOLUTION
    point = x.detach().clone(memory_format=torch.contiguous_format)
    flat = point.view(-1)
    slopes = []
    with torch.no_grad():
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + eps
            f_plus = float(f(point))
            flat[i] = original - eps
            f_minus = float(f(point))
            flat[i] = original
            slopes.append((f_plus - f_minus) / (2 * eps))
    return torch.tensor(slopes, dtype=x.dtype, device=x.device).reshape(x.shape)
    ### END SOLUTION


# %% [markdown]
# The figure makes the trade-off visible: the error of the estimate for
# $f(x) = \sum_i \sin x_i$ (whose gradient is $\cos x$) as $\varepsilon$ varies. On
# the right of each curve the truncation error falls like $\varepsilon^2$ (slope
# 2 in log-log axes); on the left the round-off error grows like $1/\varepsilon$.


# %% tags=["skip-grading"]
def plot_numerical_gradient_error():
    """Log-log plot of the central-difference error against eps, in float32 and float64."""
    epsilons = torch.logspace(-12, 0, 49, dtype=torch.float64).tolist()
    _, ax = plt.subplots(figsize=(7, 4))
    for dtype in (torch.float64, torch.float32):
        x = torch.linspace(-2, 2, 7, dtype=dtype)
        exact = torch.cos(x.double())
        errors = []
        for eps in epsilons:
            try:
                estimate = numerical_gradient(lambda t: torch.sin(t).sum(), x, eps)
            except NotImplementedError:
                print("implement numerical_gradient first, then run this cell again")
                plt.close()
                return
            errors.append(max((estimate.double() - exact).abs().max().item(), 1e-18))
        ax.loglog(epsilons, errors, marker=".", label=str(dtype).replace("torch.", ""))
    ax.axvline(1e-6, color="gray", linestyle="--", linewidth=0.8)
    ax.text(1.3e-6, 0.45, "default eps", color="gray", transform=ax.get_xaxis_transform())
    ax.set_xlabel("eps")
    ax.set_ylabel("max |numerical - exact|")
    ax.set_title("central differences: round-off (left) against truncation (right)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    plt.show()


plot_numerical_gradient_error()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab4.numerical_gradient")

# %% [markdown]
# ## 4. The affine layer as an autograd `Function`
#
# Now for tensors. A batch of inputs $X$ of shape $[n, d]$ (one example per row)
# goes through the affine map of `nn.Linear`:
#
# $$Y = X W^\top + b, \qquad Y_{ij} = \sum_{l} X_{il} W_{jl} + b_j,$$
#
# with $W$ of shape $[k, d]$, $b$ of shape $[k]$ (added to every row) and $Y$ of
# shape $[n, k]$. Whatever comes after this layer, `backward` receives
# $G = \partial L / \partial Y$, of the same shape as $Y$, and must return the
# gradients of $L$ with respect to each input. Writing out the chain rule entry by
# entry (as in the sum above) and collecting the terms gives three matrix products:
#
# $$\frac{\partial L}{\partial X} = G\,W \;\; [n, d], \qquad
# \frac{\partial L}{\partial W} = G^\top X \;\; [k, d], \qquad
# \frac{\partial L}{\partial b} = \sum_{i=1}^{n} G_{i,:} \;\; [k].$$
#
# A handy way to remember them: a gradient always has the shape of the variable it
# belongs to, and there is only one way to multiply $G$ $[n, k]$ with $W$ $[k, d]$
# or with $X$ $[n, d]$ to get $[n, d]$ or $[k, d]$. The bias gradient is a sum over
# the batch because the same $b$ was added to every row. Note that the Jacobian of
# $Y$ with respect to $X$ (a tensor with $n k \cdot n d$ entries) is never built:
# `backward` computes the vector-Jacobian product directly.
#
# `forward` saves what `backward` needs (`x` and `W`) with `ctx.save_for_backward`.
# Use `@` and `.T`; `F.linear` and `torch.addmm` are not allowed.


# %%
class LinearFunction(Function):
    """Affine map x @ W.T + b with a hand-written backward pass."""

    @staticmethod
    def forward(ctx, x, W, b):
        """Return x @ W.T + b for x [n, d], W [k, d], b [k]; save x and W."""
        ### BEGIN SOLUTION
        ctx.save_for_backward(x, W)
        return x @ W.T + b
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """Return (dx, dW, db) from grad_output = dL/dY of shape [n, k]."""
        ### BEGIN SOLUTION
        x, W = ctx.saved_tensors
        return grad_output @ W, grad_output.T @ x, grad_output.sum(0)
        ### END SOLUTION


def linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Affine map x @ W.T + b through LinearFunction."""
    return LinearFunction.apply(x, W, b)


# %% [markdown]
# `torch.autograd.gradcheck` compares the backward pass of a `Function` with
# finite differences like yours, in `float64`:


# %% tags=["skip-grading"]
def gradcheck_linear():
    """Run torch.autograd.gradcheck on linear with random float64 inputs."""
    gen = torch.Generator().manual_seed(0)
    inputs = [
        torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
        for shape in ((5, 3), (4, 3), (4,))
    ]
    try:
        ok = torch.autograd.gradcheck(linear, inputs)
    except NotImplementedError:
        print("implement LinearFunction first, then run this cell again")
        return
    print("gradcheck passed:", ok)


gradcheck_linear()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab4.LinearFunction")

# %% [markdown]
# ## 5. Backpropagation through a two-layer network
#
# Finally, a whole network and its loss, forward and backward, with no autograd.
# For inputs $X$ $[n, d]$ and targets $Y$ $[n, k]$, with a hidden layer of $h$
# units:
#
# $$A = X W_1^\top + b_1, \quad H = \operatorname{relu}(A), \quad
# \hat Y = H W_2^\top + b_2, \quad
# L = \frac{1}{n k} \sum_{i=1}^{n} \sum_{j=1}^{k} (\hat Y_{ij} - Y_{ij})^2,$$
#
# with $W_1$ $[h, d]$, $b_1$ $[h]$, $W_2$ $[k, h]$, $b_2$ $[k]$. The backward pass
# visits the same steps in reverse, each time turning the gradient of a step's
# output into the gradients of its inputs. With the notation of section 2,
# $\bar Z = \partial L / \partial Z$ (a tensor shaped like $Z$):
#
# 1. the loss: $\bar{\hat Y} = \dfrac{2}{n k}\,(\hat Y - Y)$;
# 2. the second layer (section 4 with $H$ as the input):
#    $\bar W_2 = \bar{\hat Y}^\top H$, $\;\bar b_2 = \sum_i \bar{\hat Y}_{i,:}$,
#    $\;\bar H = \bar{\hat Y}\, W_2$;
# 3. the ReLU, element by element: $\bar A = \bar H \odot \mathbb{1}[A > 0]$
#    (so $0$ where $A = 0$);
# 4. the first layer: $\bar W_1 = \bar A^\top X$, $\;\bar b_1 = \sum_i \bar A_{i,:}$.
#
# $\partial L / \partial X$ is not needed: nothing upstream of $X$ is trained. Keep
# $A$ (or $H$) from the forward pass, since the ReLU step needs its sign. Mind the
# normalisation: the mean is over all $n k$ entries, so the factor is $2 / (n k)$,
# not $2 / n$ (they agree only when $k = 1$). Return the loss as a 0-dim tensor and
# the gradients in a dict whose keys are the parameter names.


# %%
def mlp2_loss_and_grads(X, Y, W1, b1, W2, b2):
    """MSE loss of Linear-ReLU-Linear and its parameter gradients, by manual backprop."""
    ### BEGIN SOLUTION
    # Forward pass, keeping the intermediate results.
    A = X @ W1.T + b1
    H = A.clamp(min=0)
    Y_hat = H @ W2.T + b2
    diff = Y_hat - Y
    loss = (diff * diff).mean()
    # Backward pass, from the loss down to the first layer.
    dY_hat = 2.0 * diff / diff.numel()
    dW2 = dY_hat.T @ H
    db2 = dY_hat.sum(0)
    dH = dY_hat @ W2
    dA = torch.where(A > 0, dH, 0.0)
    dW1 = dA.T @ X
    db1 = dA.sum(0)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    ### END SOLUTION


# %% [markdown]
# Two uses of what you have built. First, a gradient check: the hand-derived
# gradients against `numerical_gradient` in `float64`. Then the reason for all
# this: plain gradient descent with your gradients fits the function
# $f(x_1, x_2) = \sin(\pi x_1) / (x_2^2 + 1)$ from 256 noise-free samples.


# %% tags=["skip-grading"]
def gradient_check_mlp2():
    """Compare mlp2_loss_and_grads with numerical_gradient on a small problem."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    Y = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    params = {
        "W1": torch.randn(5, 3, generator=gen, dtype=torch.float64),
        "b1": torch.randn(5, generator=gen, dtype=torch.float64),
        "W2": torch.randn(2, 5, generator=gen, dtype=torch.float64),
        "b2": torch.randn(2, generator=gen, dtype=torch.float64),
    }
    try:
        _, grads = mlp2_loss_and_grads(X, Y, **params)
        for name, value in params.items():

            def loss_of(v, name=name):
                return mlp2_loss_and_grads(X, Y, **{**params, name: v})[0]

            numeric = numerical_gradient(loss_of, value)
            gap = (grads[name] - numeric).abs().max().item()
            print(f"{name}: max |manual - numerical| = {gap:.1e}")
    except NotImplementedError:
        print("implement mlp2_loss_and_grads and numerical_gradient first")


gradient_check_mlp2()


# %% tags=["skip-grading"]
def train_mlp2(steps=1500, lr=0.1, hidden=32):
    """Fit sin(pi x1) / (x2^2 + 1) with gradient descent on the manual gradients."""
    gen = torch.Generator().manual_seed(0)
    X = 2 * torch.rand(256, 2, generator=gen) - 1
    Y = (torch.sin(math.pi * X[:, 0]) / (X[:, 1] ** 2 + 1)).unsqueeze(1)
    params = {
        "W1": torch.randn(hidden, 2, generator=gen),
        "b1": torch.zeros(hidden),
        "W2": torch.randn(1, hidden, generator=gen) / math.sqrt(hidden),
        "b2": torch.zeros(1),
    }
    losses = []
    for _ in range(steps):
        try:
            loss, grads = mlp2_loss_and_grads(X, Y, **params)
        except NotImplementedError:
            print("implement mlp2_loss_and_grads first, then run this cell again")
            return
        losses.append(loss.item())
        params = {name: p - lr * grads[name] for name, p in params.items()}
    _, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(losses)
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("training MSE")
    ax.set_title("a two-layer network trained with hand-written gradients")
    ax.grid(alpha=0.3, which="both")
    plt.show()
    print(f"MSE: {losses[0]:.4f} at the start, {losses[-1]:.4f} after {steps} steps")


train_mlp2()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab4.mlp2_loss_and_grads")

# %% [markdown]
# ## Wrapping up
#
# The same idea ran through every exercise: a computation is a graph of simple
# steps, each step knows its local derivative, and the chain rule, applied from the
# output backwards, multiplies these local pieces and adds them up where paths
# meet. `Value` does this one number at a time; `LinearFunction` and the two-layer
# network do it with matrices, where each backward step is again a matrix product
# shaped like the forward one. The cost of a backward pass is a small multiple of
# the forward pass, whatever the number of parameters, while finite differences
# need two evaluations per parameter. That difference is what makes training large
# networks possible, and numerical gradients remain the referee for any backward
# pass you write. From the next lab on, PyTorch's autograd does this work for you,
# and you know what it does.
