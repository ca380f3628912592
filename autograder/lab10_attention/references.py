"""Grader-side code for Lab 10: PyTorch's attention, multi-head attention and encoder layer
behind the course's signatures and mask convention, the input and task builders, and the
known mistakes that the checks replay to recognise an error.

PyTorch's modules take a boolean mask where ``True`` means *may not* attend
(``nn.MultiheadAttention``'s ``attn_mask``); the course, like ``F.scaled_dot_product_attention``,
uses ``True`` = may attend, so the wrappers invert it. This file runs in the grader only, never
next to student code, and is left out of student releases (their results are recorded instead).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from deepgrade.engine.labkit import Inputs

Mask = torch.Tensor | None
Task = dict[str, Any]


# -- scaled dot-product attention -----------------------------------------------------------
def _weights(q: torch.Tensor, k: torch.Tensor, mask: Mask, scale: float, dim: int = -1) -> Any:
    scores = q @ k.transpose(-2, -1) / scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=dim)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Mask = None) -> Any:
    """PyTorch's output, and the weights softmax(q k^T / sqrt(d), masked) written out."""
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out, _weights(q, k, mask, math.sqrt(q.shape[-1]))


def _mistake(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Mask, **how: Any) -> Any:
    weights = _weights(q, k, mask, **how)
    return weights @ v, weights


def attention_scaled_by_d(q: Any, k: Any, v: Any, mask: Mask = None) -> Any:
    """A known mistake: scores divided by d instead of sqrt(d)."""
    return _mistake(q, k, v, mask, scale=q.shape[-1])


def attention_unscaled(q: Any, k: Any, v: Any, mask: Mask = None) -> Any:
    """A known mistake: the scores are not scaled at all."""
    return _mistake(q, k, v, mask, scale=1.0)


def attention_softmax_over_queries(q: Any, k: Any, v: Any, mask: Mask = None) -> Any:
    """A known mistake: the softmax normalises each key's column instead of each query's row."""
    return _mistake(q, k, v, mask, scale=math.sqrt(q.shape[-1]), dim=-2)


def attention_mask_inverted(q: Any, k: Any, v: Any, mask: Mask = None) -> Any:
    """A known mistake: True taken as "may not attend" (nn.MultiheadAttention's convention)."""
    return _mistake(q, k, v, None if mask is None else ~mask, scale=math.sqrt(q.shape[-1]))


def _qkv(generator: torch.Generator, dtype: torch.dtype, scale: float = 1.0) -> list[Any]:
    shapes = ([2, 3, 5, 8], [2, 3, 6, 8], [2, 3, 6, 4])
    return [
        (scale * torch.randn(s, generator=generator, dtype=torch.float64)).to(dtype)
        for s in shapes
    ]


def _some_keys(generator: torch.Generator, shape: list[int]) -> torch.Tensor:
    """A random boolean mask in which every query may attend to at least one key."""
    mask = torch.rand(shape, generator=generator) < 0.6
    mask[..., 0] |= ~mask.any(dim=-1)
    return mask


def qkv(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """q [2, 3, 5, 8], k [2, 3, 6, 8] and v [2, 3, 6, 4]: two batches of three heads."""
    return _qkv(generator, dtype), {}


def qkv_masked(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """qkv with a random boolean mask [5, 6] that broadcasts over the batch and the heads."""
    q, k, v = _qkv(generator, dtype)
    return [q, k, v, _some_keys(generator, [5, 6])], {}


def qkv_causal(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Self-attention shapes [1, 2, 6, 8] with a causal mask [6, 6]."""
    q, k, v = (torch.randn(1, 2, 6, 8, generator=generator, dtype=torch.float64) for _ in "qkv")
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    return [q.to(dtype), k.to(dtype), v.to(dtype), causal], {}


def qkv_three_dimensional(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """q [3, 4, 6], k [3, 5, 6] and v [3, 5, 2]: a batch of sequences without heads."""
    shapes = ([3, 4, 6], [3, 5, 6], [3, 5, 2])
    return [torch.randn(s, generator=generator, dtype=torch.float64).to(dtype) for s in shapes], {}


def qkv_large(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """qkv scaled by 40: scores of several hundred, whose exponentials overflow."""
    q, k, v = _qkv(generator, dtype, scale=40.0)
    return [q, k, v, _some_keys(generator, [2, 1, 5, 6])], {}


# -- modules --------------------------------------------------------------------------------
class _MultiheadAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention(batch_first=True) with the course's forward and mask."""

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__(embed_dim, num_heads, batch_first=True)

    def forward(  # type: ignore[override]
        self, query: Any, key: Any, value: Any, mask: Mask = None
    ) -> torch.Tensor:
        blocked = None if mask is None else ~mask
        return super().forward(query, key, value, attn_mask=blocked, need_weights=False)[0]


def multihead_attention(embed_dim: int, num_heads: int) -> nn.Module:
    return _MultiheadAttention(embed_dim, num_heads)


class _EncoderLayer(nn.TransformerEncoderLayer):
    """nn.TransformerEncoderLayer(batch_first=True, dropout=0.0) with the course's mask."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int) -> None:
        super().__init__(d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True)

    def forward(self, src: Any, mask: Mask = None) -> torch.Tensor:  # type: ignore[override]
        return super().forward(src, src_mask=None if mask is None else ~mask)


def encoder_block(d_model: int, nhead: int, dim_feedforward: int) -> nn.Module:
    return _EncoderLayer(d_model, nhead, dim_feedforward)


def _sequence(generator: torch.Generator, dtype: torch.dtype, shape: list[int]) -> Any:
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)


def self_attention(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """query = key = value, x [2, 5, 8] (three copies, each with its own gradient)."""
    x = _sequence(generator, dtype, [2, 5, 8])
    return [x, x.clone(), x.clone()], {}


def cross_attention(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """query [2, 4, 8], key and value [2, 6, 8], all different."""
    shapes = ([2, 4, 8], [2, 6, 8], [2, 6, 8])
    return [_sequence(generator, dtype, s) for s in shapes], {}


def cross_attention_wide(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """query [2, 3, 12], key and value [2, 5, 12]."""
    shapes = ([2, 3, 12], [2, 5, 12], [2, 5, 12])
    return [_sequence(generator, dtype, s) for s in shapes], {}


def causal_self_attention(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """Self-attention on x [3, 6, 8] with a causal mask [6, 6]."""
    x = _sequence(generator, dtype, [3, 6, 8])
    return [x, x.clone(), x.clone(), torch.ones(6, 6, dtype=torch.bool).tril()], {}


def causal_sequence(generator: torch.Generator, dtype: torch.dtype) -> Inputs:
    """x [2, 5, 8] and a causal mask [5, 5], for the encoder block."""
    x = _sequence(generator, dtype, [2, 5, 8])
    return [x, torch.ones(5, 5, dtype=torch.bool).tril()], {}


# -- positional encoding --------------------------------------------------------------------
def positional_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """PE[p, j] = sin(p / 10000^(2i/d)) for j = 2i, cos of the same angle for j = 2i + 1."""
    return _encoding(seq_len, d_model, lambda j: j - j % 2, swapped=False)


def positional_encoding_swapped(seq_len: int, d_model: int) -> torch.Tensor:
    """A known mistake: cosine on the even features and sine on the odd ones."""
    return _encoding(seq_len, d_model, lambda j: j - j % 2, swapped=True)


def positional_encoding_own_exponent(seq_len: int, d_model: int) -> torch.Tensor:
    """A known mistake: the odd feature 2i + 1 uses the exponent (2i + 1) / d of its own."""
    return _encoding(seq_len, d_model, lambda j: j, swapped=False)


def positional_encoding_index_exponent(seq_len: int, d_model: int) -> torch.Tensor:
    """A known mistake: 10000^(i/d) with i the pair's index instead of 2i."""
    return _encoding(seq_len, d_model, lambda j: j // 2, swapped=False)


def _encoding(seq_len: int, d_model: int, exponent: Any, *, swapped: bool) -> torch.Tensor:
    table = torch.empty(seq_len, d_model, dtype=torch.float64)
    for p in range(seq_len):
        for j in range(d_model):
            angle = p / 10000 ** (exponent(j) / d_model)
            table[p, j] = math.sin(angle) if (j % 2 == 0) != swapped else math.cos(angle)
    return table.to(torch.float32)


# -- the task -------------------------------------------------------------------------------
SEQ_DIGITS = 7


def pointer_task(seed: int) -> Task:
    """``train_sequence_task(seed)``; 2000 fresh sequences [pointer, 7 digits] to answer."""
    generator = torch.Generator().manual_seed(10_000 + seed)
    pointers = torch.randint(0, SEQ_DIGITS, (2000,), generator=generator)
    digits = torch.randint(0, 10, (2000, SEQ_DIGITS), generator=generator)
    tokens = torch.cat([(10 + pointers).unsqueeze(1), digits], dim=1)
    return {
        "train": [seed],
        "test_inputs": tokens,
        "test_targets": digits.gather(1, pointers.unsqueeze(1)).squeeze(1),
    }
