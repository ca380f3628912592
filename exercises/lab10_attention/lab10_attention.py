# %% [markdown]
# # Lab 10: attention and transformers
#
# A recurrent network reads a sequence one element at a time and squeezes everything it
# has seen into one hidden state. **Attention** lets every position look at every other
# position directly: each position asks a question (a *query*), every position offers a
# label (a *key*) and a content (a *value*), and the answer is an average of the values,
# weighted by how well each key matches the query. Stacking attention with a small
# feed-forward network, residual connections and normalisation gives the **transformer**
# block, the building piece of today's language and vision models.
#
# **What you implement.**
#
# 1. `scaled_dot_product_attention`: the attention operation itself, with an optional mask;
# 2. `LayerNorm`: normalisation over the features of each position;
# 3. `MultiHeadAttention`: several attentions side by side on learned projections;
# 4. `positional_encoding`: the sinusoidal code that tells the model where each token is;
# 5. `TransformerEncoderBlock`: attention and a feed-forward network, each with a residual
#    connection and a layer norm;
# 6. `train_sequence_task`: a small transformer that learns to fetch a digit from a
#    sequence, built from your block.
#
# **Conventions (the grader relies on them).**
#
# - Sequences are batch first: a batch of `n` sequences of length `T` with `d` features is a
#   tensor `[n, T, d]`, as PyTorch's modules with `batch_first=True`.
# - Masks are **boolean** and `True` means *may attend* (PyTorch's boolean `attn_mask` of
#   `F.scaled_dot_product_attention`). Every query may attend to at least one key.
# - Parameter names, shapes and their order are PyTorch's (`nn.LayerNorm`,
#   `nn.MultiheadAttention(batch_first=True)`, `nn.TransformerEncoderLayer`): the grader
#   copies the same values into your module and into PyTorch's and compares outputs and
#   gradients. Register parameters and submodules in the order given in each exercise.
# - Every function works in float32 and float64 and on any device: build new tensors with
#   the `dtype` and `device` of the inputs.
# - Write the operations yourself with tensor algebra (`@`, `softmax`, `mean`, ...): the
#   library's attention, layer norm and transformer layers (`F.scaled_dot_product_attention`,
#   `nn.MultiheadAttention`, `F.multi_head_attention_forward`, `F.layer_norm`,
#   `nn.LayerNorm`, `nn.TransformerEncoderLayer` and the other `nn.Transformer*` classes) are
#   refused inside your code. `nn.Linear`, `nn.Embedding` and `torch.optim` are allowed.
#
# **Checking your work.** Under each exercise there is a cell that calls `check`:
# run it to grade that exercise on its own. To grade the whole notebook, run
# `grade check lab10_attention.ipynb` in a terminal.

# %%
import math

import torch
from torch import nn

# %% [markdown]
# ## 1. Scaled dot-product attention
#
# Take queries $Q \in \mathbb{R}^{T_q \times d}$, keys $K \in \mathbb{R}^{T_k \times d}$ and
# values $V \in \mathbb{R}^{T_k \times d_v}$ (with any leading batch dimensions). The score
# of query $i$ for key $j$ is their dot product, divided by $\sqrt{d}$:
#
# $$S = \frac{Q K^\top}{\sqrt{d}} \in \mathbb{R}^{T_q \times T_k}.$$
#
# Why $\sqrt{d}$? If the entries of $q$ and $k$ are independent with mean 0 and variance 1,
# $q \cdot k$ is a sum of $d$ such products and has variance $d$; dividing by $\sqrt{d}$
# (not by $d$) brings its standard deviation back to 1, so that the softmax does not
# saturate as $d$ grows.
#
# Each query's scores become weights with a softmax **over the keys** (the last axis): row
# $i$ of the weights sums to 1,
#
# $$A_{ij} = \frac{e^{S_{ij}}}{\sum_{j'} e^{S_{ij'}}}, \qquad \text{out} = A V.$$
#
# A mask says which keys a query may see. Where `mask` is `False`, set the score to
# $-\infty$ before the softmax: its weight becomes exactly 0. A causal mask (query $i$ sees
# keys $j \le i$) is `torch.ones(T, T, dtype=torch.bool).tril()`. The mask broadcasts
# against the scores `[..., T_q, T_k]`.
#
# Scores can be large (think of $10^3$): $e^{1000}$ overflows. Subtracting each row's
# maximum before exponentiating changes nothing mathematically and keeps every exponent
# $\le 0$; `torch.softmax` does this for you.
#
# `scaled_dot_product_attention(q, k, v, mask=None)` returns the pair `(out, weights)`:
# `out [..., T_q, d_v]` equals `F.scaled_dot_product_attention(q, k, v, attn_mask=mask)`, and
# `weights [..., T_q, T_k]` are the attention weights $A$. Gradients flow through both.


# %%
def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (softmax(q k^T / sqrt(d), masked) v, the attention weights)."""
    raise NotImplementedError("Lab 10: implement scaled_dot_product_attention")


# %% [markdown]
# An attention map shows the weights $A$ as an image: row $i$ is how query $i$ spreads its
# attention over the keys. Below, queries and keys are random, and a causal mask hides the
# future: everything above the diagonal is exactly 0.

# %% tags=["skip-grading"]
import matplotlib.pyplot as plt


def plot_attention_map():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(8, 16, generator=generator) for _ in range(3))
    causal = torch.ones(8, 8, dtype=torch.bool).tril()
    try:
        _, free = scaled_dot_product_attention(q, k, v)
        _, masked = scaled_dot_product_attention(q, k, v, causal)
    except NotImplementedError:
        print("implement scaled_dot_product_attention first, then run this cell again")
        return
    _, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, weights, title in zip(axes, (free, masked), ("no mask", "causal mask")):
        image = ax.imshow(weights.numpy(), cmap="viridis", vmin=0)
        ax.set_xlabel("key position j")
        ax.set_ylabel("query position i")
        ax.set_title(f"attention weights, {title}")
        plt.colorbar(image, ax=ax, fraction=0.046)
    plt.tight_layout()
    plt.show()


plot_attention_map()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab10.scaled_dot_product_attention")

# %% [markdown]
# ## 2. Layer normalisation
#
# Batch normalisation averages over the batch; a transformer instead normalises each
# position on its own, over its features. For a vector $x \in \mathbb{R}^{d}$ (the last
# dimension of the input),
#
# $$\mu = \frac{1}{d}\sum_i x_i, \qquad \sigma^2 = \frac{1}{d}\sum_i (x_i - \mu)^2, \qquad
# y_i = \gamma_i \frac{x_i - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \beta_i .$$
#
# The variance is the **biased** one (divide by $d$, not $d - 1$), and $\varepsilon$ goes
# inside the square root. $\gamma$ (`weight`, initialised to ones) and $\beta$ (`bias`,
# zeros) are learned, one per feature, so the layer can undo the normalisation if it helps.
#
# `LayerNorm(normalized_shape, eps=1e-5)`: `normalized_shape` is an int $d$; register
# `weight [d]` then `bias [d]` as parameters and normalise over the last dimension of an
# input `[..., d]`.


# %%
class LayerNorm(nn.Module):
    """Normalise the last dimension, then scale by weight and shift by bias."""

    def __init__(self, normalized_shape: int, eps: float = 1e-5) -> None:
        super().__init__()
        raise NotImplementedError("Lab 10: implement LayerNorm.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("Lab 10: implement LayerNorm.forward")


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab10.LayerNorm")

# %% [markdown]
# ## 3. Multi-head attention
#
# One attention can only average in one way. Multi-head attention runs $h$ of them side by
# side, each on its own learned projections of size $d_h = e / h$ (with $e$ the embedding
# size), and mixes their results:
#
# $$Q = X_q W_q^\top + b_q, \quad K = X_k W_k^\top + b_k, \quad V = X_v W_v^\top + b_v,$$
#
# then split the **features** of $Q$, $K$, $V$ into $h$ heads: `[n, T, e]` becomes
# `[n, T, h, d_h]`, transposed to `[n, h, T, d_h]` so that each head is a batch of its own
# (splitting the sequence dimension instead would mix positions). Each head computes
# `scaled_dot_product_attention` on its `d_h` features; the heads are put back side by
# side, `[n, T_q, e]`, and the output projection mixes them: $\text{out} = O W_o^\top + b_o$.
#
# The parameters are laid out as in `nn.MultiheadAttention`, in this order:
# `in_proj_weight [3e, e]` holds $W_q$, $W_k$, $W_v$ stacked (rows $0..e-1$ are $W_q$),
# `in_proj_bias [3e]` the three biases the same way, and `out_proj = nn.Linear(e, e)`.
# Initialise `in_proj_weight` with `nn.init.xavier_uniform_` and `in_proj_bias` with zeros.
# `num_heads` must divide `embed_dim` (raise `ValueError` otherwise).
#
# `forward(query, key, value, mask=None)` takes `query [n, T_q, e]`, `key` and
# `value [n, T_k, e]`, and an optional boolean `mask [T_q, T_k]` (`True` = may attend, the
# same for every sequence and head), and returns `[n, T_q, e]`.


# %%
class MultiHeadAttention(nn.Module):
    """Multi-head attention with PyTorch's parameter layout (batch first)."""

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        raise NotImplementedError("Lab 10: implement MultiHeadAttention.__init__")

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError("Lab 10: implement MultiHeadAttention.forward")


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab10.MultiHeadAttention")

# %% [markdown]
# ## 4. Positional encoding
#
# Attention treats its inputs as a set: permute the positions of the keys and values and
# the output does not change. To know *where* a token is, the model adds to each embedding a
# code of its position. The original transformer uses sines and cosines of geometrically
# spaced frequencies: for position $p$ and feature pair $i$ ($0 \le 2i < d$),
#
# $$PE_{p, 2i} = \sin\!\left(\frac{p}{10000^{2i/d}}\right), \qquad
# PE_{p, 2i+1} = \cos\!\left(\frac{p}{10000^{2i/d}}\right).$$
#
# **Sine on even** features, **cosine on odd** ones, and both members of a pair share the
# frequency of the even index $2i$. Low features oscillate quickly and high ones slowly, like
# the hands of a clock; for odd $d$ the last feature is a sine.
#
# `positional_encoding(seq_len, d_model)` returns the float32 tensor `[seq_len, d_model]`
# (compute it in float64 and convert at the end, for accuracy at long positions).


# %%
def positional_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """The sinusoidal positional encoding [seq_len, d_model], as float32."""
    raise NotImplementedError("Lab 10: implement positional_encoding")


# %% tags=["skip-grading"]
def plot_positional_encoding():
    try:
        pe = positional_encoding(64, 32)
    except NotImplementedError:
        print("implement positional_encoding first, then run this cell again")
        return
    plt.figure(figsize=(8, 4))
    plt.imshow(pe.T.numpy(), aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
    plt.xlabel("position p")
    plt.ylabel("feature")
    plt.title("sinusoidal positional encoding")
    plt.colorbar()
    plt.show()


plot_positional_encoding()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab10.positional_encoding")

# %% [markdown]
# ## 5. The transformer encoder block
#
# A block refines every position with two sub-layers, each wrapped in a residual connection
# and followed by a layer norm (the **post-norm** order of the original transformer and of
# PyTorch's default `norm_first=False`):
#
# $$h = \text{LN}_1\big(x + \text{MHA}(x, x, x)\big), \qquad
# y = \text{LN}_2\big(h + W_2\, \text{ReLU}(W_1 h + b_1) + b_2\big).$$
#
# The first sub-layer lets positions exchange information (self-attention: queries, keys and
# values all come from $x$); the second, the feed-forward network, transforms each position
# on its own. There is no dropout here.
#
# `TransformerEncoderBlock(d_model, nhead, dim_feedforward)` registers, in this order,
# `self_attn = MultiHeadAttention(d_model, nhead)`, `linear1 = nn.Linear(d_model,
# dim_feedforward)`, `linear2 = nn.Linear(dim_feedforward, d_model)`, `norm1` and `norm2`
# (your `LayerNorm(d_model)`): the names and order of `nn.TransformerEncoderLayer`.
# `forward(x, mask=None)` takes `x [n, T, d_model]` and an optional boolean `mask [T, T]`
# passed on to the attention.


# %%
class TransformerEncoderBlock(nn.Module):
    """Post-norm transformer encoder block: attention, add and norm, feed-forward, add and norm."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int) -> None:
        super().__init__()
        raise NotImplementedError("Lab 10: implement TransformerEncoderBlock.__init__")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError("Lab 10: implement TransformerEncoderBlock.forward")


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab10.TransformerEncoderBlock")

# %% [markdown]
# ## 6. Task: fetch a digit
#
# A task that needs both attention and positions: each sequence is a **pointer** followed by
# `SEQ_DIGITS = 7` digits. The pointer is a token $10 + p$ with $p \in \{0, \dots, 6\}$, the
# digits are tokens 0 to 9, and the answer is the digit at position $p$ among the seven,
# that is the token at index $1 + p$ of the sequence. For example `[12, 4, 1, 8, 0, 3, 3, 9]`
# points at digit 2 (counting from 0), whose value is 8. A model that ignores positions
# cannot tell the digits apart; one that ignores content cannot read them.
#
# `make_pointer_data(n, generator)` (given) draws `n` such sequences `[n, 8]` (int64) and
# their answers `[n]`. The model (`PointerModel`, given) embeds the tokens, adds your
# positional encoding, applies your `TransformerEncoderBlock` and reads the answer off the
# pointer's position with a linear layer: `model(tokens [n, 8])` returns 10 logits a sequence,
# `[n, 10]`, and the predicted digit is their argmax.
#
# `train_sequence_task(seed=0) -> (model, history)`: seed PyTorch with `seed`, draw 3000
# training sequences from a generator seeded with `seed`, and train a `PointerModel` with
# `nn.CrossEntropyLoss` and `torch.optim.Adam` (learning rate 3e-3) on minibatches of 100 in
# a shuffled order, for 8 epochs; `history` is the list of the mean training loss of each
# epoch. The grader measures the accuracy on fresh sequences (at least 90 % for full credit,
# 60 % for half) and allows 30 s; the solution takes about five on one core.

# %%
SEQ_DIGITS = 7


def make_pointer_data(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n sequences [pointer, 7 digits] and the digit each pointer points at."""
    pointers = torch.randint(0, SEQ_DIGITS, (n,), generator=generator)
    digits = torch.randint(0, 10, (n, SEQ_DIGITS), generator=generator)
    tokens = torch.cat([(10 + pointers).unsqueeze(1), digits], dim=1)
    return tokens, digits.gather(1, pointers.unsqueeze(1)).squeeze(1)


class PointerModel(nn.Module):
    """Embedding + positional encoding, one encoder block, a linear read-out at position 0."""

    def __init__(self, d_model: int = 32, nhead: int = 4, dim_feedforward: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(10 + SEQ_DIGITS, d_model)
        self.register_buffer("pe", positional_encoding(1 + SEQ_DIGITS, d_model))
        self.block = TransformerEncoderBlock(d_model, nhead, dim_feedforward)
        self.head = nn.Linear(d_model, 10)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.block(self.embed(tokens) + self.pe)
        return self.head(h[:, 0])


def train_sequence_task(seed: int = 0):
    """Train a PointerModel to fetch the digit its pointer points at; (model, history)."""
    raise NotImplementedError("Lab 10: implement train_sequence_task")


# %% [markdown]
# What did the model learn? The attention map of the pointer's position (row 0) should put
# most of its weight on the digit it points at.

# %% tags=["skip-grading"]
def plot_pointer_attention():
    try:
        model, history = train_sequence_task()
    except NotImplementedError:
        print("implement the exercises above and train_sequence_task first")
        return
    tokens, answers = make_pointer_data(8, torch.Generator().manual_seed(123))
    model.eval()
    with torch.no_grad():
        x = model.embed(tokens) + model.pe
        attention = model.block.self_attn
        e, h = attention.embed_dim, attention.num_heads
        w_q, w_k, _ = attention.in_proj_weight.chunk(3)
        b_q, b_k, _ = attention.in_proj_bias.chunk(3)
        q = (x @ w_q.T + b_q).reshape(8, -1, h, e // h).transpose(1, 2)
        k = (x @ w_k.T + b_k).reshape(8, -1, h, e // h).transpose(1, 2)
        _, weights = scaled_dot_product_attention(q, k, k)
    _, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.semilogy(range(1, len(history) + 1), history)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.set_title("training loss")
    ax_loss.grid(alpha=0.3)
    # Row 0 (the pointer) of each sequence, averaged over the heads.
    image = ax_map.imshow(weights[:, :, 0].mean(1).numpy(), cmap="viridis", vmin=0)
    ax_map.set_xticks(range(1 + SEQ_DIGITS), ["ptr"] + [str(i) for i in range(SEQ_DIGITS)])
    ax_map.set_yticks(range(8), [f"p={int(t) - 10}" for t in tokens[:, 0]])
    ax_map.set_xlabel("key position")
    ax_map.set_title("where the pointer attends")
    plt.colorbar(image, ax=ax_map, fraction=0.046)
    plt.tight_layout()
    plt.show()


plot_pointer_attention()

# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab10.train_sequence_task")
