# %% [markdown]
# # Lab 9: recurrent networks
#
# A multilayer perceptron sees one fixed-size input at a time. Text, speech and
# measurements over time come as sequences whose length varies, and what matters at step
# `t` often depends on what came before. A recurrent network handles them with one small
# network, the *cell*, applied at every time step: it reads the current input and a
# *hidden state* that summarises the past, and writes the next hidden state. The same
# weights serve every step, so the model has a fixed size whatever the length of the
# sequence, and training it is ordinary backpropagation through the loop unrolled in time
# (*backpropagation through time*).
#
# **What you implement.**
#
# 1. `RNNCell`: the plain (Elman) recurrent cell, with tanh or ReLU;
# 2. `rnn_forward`: the loop that runs a cell over a whole sequence;
# 3. `LSTMCell`: the long short-term memory cell, whose gates keep a second state;
# 4. `clip_grad_norm`: gradient clipping by the global norm, the usual cure for the
#    exploding gradients of long unrolled loops;
# 5. `d_rnn_h2`: backpropagation through two steps of a scalar RNN, by hand (sympy);
# 6. `train_sine_rnn`: a task: predict the next value of a noisy sine wave.
#
# **Conventions (the grader relies on them).**
#
# - Sequences are `[T, n, d]`: time first, then the batch, then the features (PyTorch's
#   default, `batch_first=False`). Hidden states are `[n, h]`.
# - Your cells have exactly PyTorch's parameters, with the same names, shapes and order:
#   the grader copies the same values into your cell and into `nn.RNNCell` or
#   `nn.LSTMCell` and compares outputs and gradients.
# - Everything works in `float32` and `float64`, on CPU and on CUDA; results come back in
#   the dtype and on the device of the inputs.
#
# **Not allowed.** PyTorch's recurrent layers (`nn.RNNCell`, `nn.RNN`, `nn.LSTMCell`,
# `nn.LSTM`, `nn.GRUCell`, `nn.GRU` and the functions beneath them, such as
# `torch.rnn_tanh`) inside the exercises that ask you to write them, and
# `torch.nn.utils.clip_grad_norm_` (and its parts `get_total_norm`,
# `clip_grads_with_norm_`) inside `clip_grad_norm`: the grader reports them as a
# forbidden API, with zero points for that exercise. Tensor algebra (`@`, `torch.tanh`,
# `torch.sigmoid`, `torch.relu`, `torch.linalg.vector_norm`, `nn.Parameter`, `nn.Linear`
# for the output layer of the task) is fine.
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab9_recurrent.ipynb` in a terminal.

# %%
import math

import torch
from torch import nn

# %% [markdown]
# ## 1. The recurrent cell
#
# At time step `t` the cell combines the input `x_t` (shape `[n, d]`) with the previous
# hidden state `h_{t-1}` (shape `[n, h]`):
#
# $$h_t = \phi\left(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}\right)$$
#
# where $\phi$ is `tanh` (the default) or `relu`. Write `RNNCell(input_size,
# hidden_size, nonlinearity="tanh")` as an `nn.Module` with four parameters, registered
# in this order and with these names and shapes, as `nn.RNNCell` has them:
#
# | name | shape |
# | --- | --- |
# | `weight_ih` | `[hidden_size, input_size]` |
# | `weight_hh` | `[hidden_size, hidden_size]` |
# | `bias_ih` | `[hidden_size]` |
# | `bias_hh` | `[hidden_size]` |
#
# Yes, two biases: they add up, so one would do mathematically, but PyTorch keeps both (the
# fast GPU kernels want them), and so do we, so that weights can be copied from one to the
# other. Initialise every parameter uniformly in $\pm 1/\sqrt{h}$ (`hidden_size`), as
# PyTorch does. `forward(x, h=None)` returns the new hidden state `[n, h]`; a missing
# `h` means a state of zeros. Any other `nonlinearity` raises `ValueError`.


# %%
class RNNCell(nn.Module):
    """An Elman cell: h' = phi(x W_ih^T + b_ih + h W_hh^T + b_hh)."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        super().__init__()
        ### BEGIN SOLUTION
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.nonlinearity = nonlinearity
        bound = 1 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(
            torch.empty(hidden_size, hidden_size).uniform_(-bound, bound)
        )
        self.bias_ih = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
        ### END SOLUTION

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step: the next hidden state [n, hidden_size]."""
        ### BEGIN SOLUTION
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        pre = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        return torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab9.RNNCell")

# %% [markdown]
# ## 2. Unrolling the loop
#
# Write `rnn_forward(cell, x, h0)`: run `cell` over the sequence `x` of shape `[T, n, d]`
# from the initial state `h0` (`[n, h]`), **carrying the state from one step to the
# next**:
#
# $$h_1 = \text{cell}(x_1, h_0),\quad h_2 = \text{cell}(x_2, h_1),\quad \ldots,\quad
# h_T = \text{cell}(x_T, h_{T-1})$$
#
# Return `(outputs, h_T)`: `outputs` stacks the states $h_1, \ldots, h_T$ into `[T, n, h]`
# (not $h_0$), and `h_T` is the last of them, `[n, h]`. This is what `nn.RNN` computes;
# the grader hands your function a PyTorch `nn.RNNCell` and compares with `nn.RNN`
# loaded with the same weights. There is no backward to write: autograd follows the loop,
# which is exactly backpropagation through time, and the grader checks the gradients
# with respect to `x`, `h0` and every weight of the cell.
#
# Build the result with `torch.stack` on a Python list of states rather than by writing
# into a preallocated tensor in place: both work with autograd, the list is simpler.


# %%
def rnn_forward(
    cell: nn.Module, x: torch.Tensor, h0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run cell over x [T, n, d] from h0 [n, h]; return (outputs [T, n, h], h_T [n, h])."""
    ### BEGIN SOLUTION
    h = h0
    states = []
    for x_t in x:
        h = cell(x_t, h)
        states.append(h)
    return torch.stack(states), h
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab9.rnn_forward")

# %% [markdown]
# ### The unrolled network at work
#
# A small cell with fixed random weights reads a sequence with one spike at step 5. Each
# row of the picture is one unit of the hidden state, each column one time step: the
# spike enters the state, then fades over the following steps as the recurrent weights
# mix it away. That fading is the network's memory, and also why plain RNNs struggle with
# long-range dependencies.


# %% tags=["skip-grading"]
def plot_hidden_states():
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    try:
        cell = RNNCell(1, 8)
        x = torch.zeros(30, 1, 1)
        x[5] = 3.0
        with torch.no_grad():
            outputs, _ = rnn_forward(cell, x, torch.zeros(1, 8))
    except NotImplementedError:
        print("implement RNNCell and rnn_forward first")
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
    top.plot(x[:, 0, 0], marker="o")
    top.set_ylabel("input x_t")
    bottom.imshow(outputs[:, 0, :].T, aspect="auto", cmap="coolwarm", vmin=-1, vmax=1)
    bottom.set_ylabel("hidden unit")
    bottom.set_xlabel("time step t")
    fig.suptitle("An unrolled RNN: the hidden state h_t over a sequence")
    plt.show()


plot_hidden_states()

# %% [markdown]
# ## 3. The LSTM cell
#
# The long short-term memory cell keeps two states: the hidden state `h` and the *cell
# state* `c`, a memory that is changed only by gated, mostly additive updates, so that
# gradients can flow through many steps. From the input and the previous hidden state it
# computes four pre-activations in one matrix product,
#
# $$z = x W_{ih}^\top + b_{ih} + h W_{hh}^\top + b_{hh} \quad (\text{shape } [n, 4h]),$$
#
# cut into four blocks of `h` columns **in PyTorch's order**: input gate `i`, forget gate
# `f`, candidate `g`, output gate `o`:
#
# $$i = \sigma(z_i),\quad f = \sigma(z_f),\quad g = \tanh(z_g),\quad o = \sigma(z_o)$$
# $$c' = f \odot c + i \odot g, \qquad h' = o \odot \tanh(c')$$
#
# The forget gate scales the *previous cell state* `c` (not `h`), and the new hidden
# state reads the *new* cell state `c'`. Write `LSTMCell(input_size, hidden_size)` with
# the parameters `weight_ih [4h, d]`, `weight_hh [4h, h]`, `bias_ih [4h]`, `bias_hh [4h]`
# in this order, initialised uniformly in $\pm 1/\sqrt{h}$. `forward(x, state=None)` takes
# `state = (h, c)` (zeros when missing) and returns the pair `(h', c')`.


# %%
class LSTMCell(nn.Module):
    """An LSTM cell with PyTorch's gate order (input, forget, cell, output)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        self.input_size, self.hidden_size = input_size, hidden_size
        bound = 1 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(
            torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound)
        )
        self.weight_hh = nn.Parameter(
            torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound)
        )
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
        ### END SOLUTION

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: (h', c') from x [n, d] and state (h, c), each [n, hidden_size]."""
        ### BEGIN SOLUTION
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        h, c = state
        z = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        z_i, z_f, z_g, z_o = z.chunk(4, dim=1)
        i, f, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.sigmoid(z_o)
        g = torch.tanh(z_g)
        c_next = f * c + i * g
        h_next = o * torch.tanh(c_next)
        return h_next, c_next
        ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab9.LSTMCell")

# %% [markdown]
# ## 4. Clipping the gradient norm
#
# Backpropagation through a long loop multiplies many Jacobians of the cell together, and
# the gradient can grow by orders of magnitude from one batch to the next (*exploding
# gradients*). The usual guard rescales it before the optimiser's step. Treat all the
# gradients of all the parameters as one long vector $g$ and compute its **global** L2
# norm
#
# $$\|g\| = \sqrt{\textstyle\sum_{p} \sum_{k} (\partial L / \partial p_k)^2}.$$
#
# When $\|g\| >$ `max_norm`, multiply **every** gradient, in place, by the same factor
# `max_norm / (||g|| + 1e-6)` (PyTorch's small constant guards the division); otherwise
# leave them alone. All the gradients keep their direction relative to one another: only
# the length of the whole vector changes. (Clipping each parameter's gradient to
# `max_norm` on its own would change the direction.)
#
# Write `clip_grad_norm(parameters, max_norm)`: `parameters` is an iterable of tensors
# (possibly a generator such as `model.parameters()`); skip those whose `.grad` is
# `None`. Return the norm **before** clipping, as a 0-dimensional tensor, as
# `torch.nn.utils.clip_grad_norm_` does (0 when no parameter has a gradient).


# %%
def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
    """Scale the gradients in place so that their global L2 norm is at most max_norm;
    return the norm they had before."""
    ### BEGIN SOLUTION
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))
    factor = max_norm / (total + 1e-6)
    if factor < 1:
        for g in grads:
            g.mul_(factor)
    return total
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab9.clip_grad_norm")

# %% [markdown]
# ## 5. Derivation: backpropagation through two steps
#
# Take the scalar RNN $h_t = \tanh(w\,h_{t-1} + u\,x_t)$ with one weight `w` on the state
# and one `u` on the input. After two steps,
#
# $$h_2 = \tanh\big(w \tanh(w h_0 + u x_1) + u x_2\big),$$
#
# and `w` appears twice: in the second step directly, and inside $h_1$. The chain rule
# through time adds both paths:
#
# $$\frac{dh_2}{dw} = \big(1 - h_2^2\big)\Big(h_1 + w\,\frac{dh_1}{dw}\Big),\qquad
# \frac{dh_1}{dw} = \big(1 - h_1^2\big)\,h_0 .$$
#
# Write `d_rnn_h2(w, u, x1, x2, h0)`, which receives sympy symbols and returns $dh_2/dw$
# as a sympy expression, built by hand from the formulas above (use `sympy.tanh`;
# `sympy.diff` is not allowed here).


# %%
def d_rnn_h2(w, u, x1, x2, h0):
    """dh_2/dw for h_t = tanh(w h_{t-1} + u x_t), as a sympy expression."""
    import sympy

    ### BEGIN SOLUTION
    h1 = sympy.tanh(w * h0 + u * x1)
    h2 = sympy.tanh(w * h1 + u * x2)
    dh1 = (1 - h1**2) * h0
    return (1 - h2**2) * (h1 + w * dh1)
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab9.d_rnn_h2")

# %% [markdown]
# ## 6. Task: predicting a noisy sine wave
#
# `make_sine_series(length, seed)` below samples $s_t = \sin(0.3\,t + \varphi) +
# \varepsilon_t$ with a random phase $\varphi$ and Gaussian noise of standard deviation
# 0.1, and `make_windows(series, steps)` cuts it into training pairs: a window of `steps`
# consecutive values, shaped `[steps, n, 1]`, and the value that follows each window,
# `[n, 1]`.
#
# Write `train_sine_rnn(seed=0)`, which trains a `SineRNN` (given: your `RNNCell` with 16
# tanh units run by your `rnn_forward`, then `nn.Linear(16, 1)` on the last hidden state)
# to predict the next value, and returns `(model, history)`:
#
# - start with `torch.manual_seed(seed)`; train on `make_windows(make_sine_series(2000,
#   seed), 20)` in float32;
# - minimise the MSE with `torch.optim.Adam` (lr 1e-2) on shuffled batches of 64 windows
#   for 8 epochs, and clip the gradient norm at 1.0 with your `clip_grad_norm` between
#   `backward()` and `step()`;
# - `history` is the list of training losses, one Python float per batch.
#
# The grader calls the model on windows of 20 steps from a fresh noisy series
# (`[20, n, 1]`, float32) and measures the mean squared error of its predictions against
# the next value of the **clean** sine: the noise itself cannot be predicted, so the best
# model reaches about 0.002. An MSE of at most 0.01 earns half of the task, 0.004 all of
# it. Training runs under a time budget of 30 seconds (a few seconds on one core).


# %%
def make_sine_series(length: int = 2000, seed: int = 0, noise: float = 0.1) -> torch.Tensor:
    """A noisy sine wave sin(0.3 t + phase) + noise, as a float32 tensor [length]."""
    generator = torch.Generator().manual_seed(seed)
    phase = 2 * math.pi * torch.rand((), generator=generator, dtype=torch.float64)
    t = torch.arange(length, dtype=torch.float64)
    series = torch.sin(0.3 * t + phase)
    series += noise * torch.randn(length, generator=generator, dtype=torch.float64)
    return series.float()


def make_windows(series: torch.Tensor, steps: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows [steps, n, 1] of consecutive values and the value after each, [n, 1]."""
    n = series.shape[0] - steps
    index = torch.arange(steps)[:, None] + torch.arange(n)[None, :]
    return series[index].unsqueeze(-1), series[steps:].unsqueeze(-1)


class SineRNN(nn.Module):
    """Your RNNCell over the window, then a linear read-out of the last hidden state."""

    def __init__(self, hidden_size: int = 16) -> None:
        super().__init__()
        self.cell = RNNCell(1, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = x.new_zeros(x.shape[1], self.cell.hidden_size)
        _, h_last = rnn_forward(self.cell, x, h0)
        return self.head(h_last)


def train_sine_rnn(seed: int = 0):
    """Train a SineRNN to predict the next value of a noisy sine; return (model, history)."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    X, Y = make_windows(make_sine_series(2000, seed), 20)
    model = SineRNN(16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(8):
        order = torch.randperm(X.shape[1])
        for start in range(0, X.shape[1], 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(X[:, batch]), Y[batch])
            loss.backward()
            clip_grad_norm(model.parameters(), 1.0)
            optimizer.step()
            history.append(loss.item())
    return model, history
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab9.train_sine_rnn")

# %% [markdown]
# The training loss per batch, and the trained network's one-step predictions on a fresh
# series next to the clean sine and the noisy values it saw.


# %% tags=["skip-grading"]
def plot_sine_predictions():
    import matplotlib.pyplot as plt

    try:
        model, history = train_sine_rnn()
    except NotImplementedError:
        print("implement RNNCell, rnn_forward, clip_grad_norm and train_sine_rnn first")
        return
    series = make_sine_series(120, seed=1)
    X, Y = make_windows(series, 20)
    with torch.no_grad():
        predicted = model(X)[:, 0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    left.plot(history)
    left.set_yscale("log")
    left.set_xlabel("batch")
    left.set_ylabel("training MSE")
    steps = torch.arange(20, 120)
    right.plot(steps, Y[:, 0], ".", color="gray", label="noisy value")
    right.plot(steps, predicted, label="prediction")
    right.set_xlabel("t")
    right.legend()
    plt.show()


plot_sine_predictions()
