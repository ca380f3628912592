"""Lab 10's grades as data: the lab, its full marks and its planted bugs (proved by
test_lab10_grades.py)."""

from __future__ import annotations

from tests.helpers import GENEROUS, Bug, Lab

FULL = {
    "lab10.scaled_dot_product_attention": 3.0,
    "lab10.LayerNorm": 2.0,
    "lab10.MultiHeadAttention": 3.0,
    "lab10.positional_encoding": 2.0,
    "lab10.TransformerEncoderBlock": 3.0,
    "lab10.train_sequence_task": 2.0,
}
# The task declares its own time budget (30 s); the other exercises need far less than the
# generous limits, which only guard against a busy machine cutting a check short.
LAB = Lab("lab10_attention", FULL, points=sum(FULL.values()), settings=GENEROUS)


# -- the solution's lines that the bugs replace ---------------------------------------------
SOFTMAX = "    weights = torch.softmax(scores, dim=-1)\n"
HEADS = "x.reshape(n, x.shape[1], self.num_heads, e // self.num_heads).transpose(1, 2)"
ENCODING = """    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])"""
BLOCK = """        x = self.norm1(x + self.self_attn(x, x, x, mask))
        return self.norm2(x + self.linear2(torch.relu(self.linear1(x))))"""
PRE_NORM = """        y = self.norm1(x)
        x = x + self.self_attn(y, y, y, mask)
        return x + self.linear2(torch.relu(self.linear1(self.norm2(x))))"""

# name -> the replacements in the solution, {exercise: expected score}, expected status, words
#         the exercise's message must contain. Each bug is graded on its exercise only.
#
# Weights (public + hidden): attention 1, 1, 1, 0.5 + 0.25, 0.25 for 3 points; LayerNorm 1,
# 0.5, 0.5 + 0.5 for 2; MultiHeadAttention 1, 0.75, 0.5, 0.25 + 0.25, 0.25 for 3;
# positional_encoding 1, 0.5, 0.5 + 0.5 for 2; the block 1.5, 0.5, 0.5 + 0.5 for 3.
BUGS: dict[str, Bug] = {
    # -- scaled_dot_product_attention
    "attention scaled by d instead of sqrt(d)": Bug(
        [("/ math.sqrt(q.shape[-1])", "/ q.shape[-1]")],
        {"lab10.scaled_dot_product_attention": 0.0},
        "failed",
        ["q [2,3,5,8]", "divide the scores by sqrt(d)"],
    ),
    "softmax over the queries": Bug(
        [(SOFTMAX, SOFTMAX.replace("dim=-1", "dim=-2"))],
        {"lab10.scaled_dot_product_attention": 0.0},
        "failed",
        ["softmax over the keys"],
    ),
    "mask inverted": Bug(
        [("masked_fill(~mask,", "masked_fill(mask,")],
        {"lab10.scaled_dot_product_attention": 1.6875},
        "failed",
        ["a boolean mask [5, 6]", "True in the mask means may attend"],
    ),
    "softmax without the max shift": Bug(
        [(SOFTMAX, "    weights = scores.exp() / scores.exp().sum(dim=-1, keepdim=True)\n")],
        {"lab10.scaled_dot_product_attention": 2.625},
        "failed",
        ["large scores", "subtract each row's maximum"],
    ),
    "attention weights detached from the graph": Bug(
        [("    return weights @ v, weights\n", "    return weights.detach() @ v, weights\n")],
        {"lab10.scaled_dot_product_attention": 1.3125},
        "failed",
        ["gradient of argument 1"],
    ),
    # -- LayerNorm
    "layer norm with the unbiased variance": Bug(
        [
            (
                "var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)",
                "var = x.var(dim=-1, keepdim=True)",
            )
        ],
        {"lab10.LayerNorm": 0.0},
        "failed",
        ["nn.LayerNorm(8)", "biased variance"],
    ),
    "layer norm with eps outside the square root": Bug(
        [("torch.sqrt(var + self.eps)", "(torch.sqrt(var) + self.eps)")],
        {"lab10.LayerNorm": 0.0},
        "failed",
        ["eps=0.01", "inside the square root"],
    ),
    "layer norm variance as mean(x^2) - mean^2": Bug(
        [
            (
                "var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)",
                "var = (x**2).mean(dim=-1, keepdim=True) - mean**2",
            )
        ],
        {"lab10.LayerNorm": 1.6},
        "failed",
        ["around 1e6", "cancels catastrophically"],
    ),
    "layer norm from F.layer_norm": Bug(
        [
            (
                "return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias",
                "return nn.functional.layer_norm(x, x.shape[-1:], self.weight, self.bias)",
            )
        ],
        {"lab10.LayerNorm": 0.0},
        "forbidden",
        ["layer_norm"],
    ),
    # -- MultiHeadAttention
    "heads split along the sequence": Bug(
        [(HEADS, "x.reshape(n, self.num_heads, x.shape[1], e // self.num_heads)")],
        {"lab10.MultiHeadAttention": 0.5},
        "failed",
        ["MultiHeadAttention(8, 2)", "split the features into heads"],
    ),
    "keys and values projected with each other's weights": Bug(
        [
            (
                "w_q, w_k, w_v = self.in_proj_weight.chunk(3)",
                "w_q, w_v, w_k = self.in_proj_weight.chunk(3)",
            )
        ],
        {"lab10.MultiHeadAttention": 0.5},
        "failed",
        ["in_proj_weight"],
    ),
    "multi-head attention ignores the mask": Bug(
        [("scaled_dot_product_attention(q, k, v, mask)", "scaled_dot_product_attention(q, k, v)")],
        {"lab10.MultiHeadAttention": 2.5},
        "failed",
        ["a causal mask [6, 6]", "pass the mask"],
    ),
    # -- positional_encoding
    "positional encoding with sin and cos swapped": Bug(
        [(ENCODING, ENCODING.replace("sin", "SIN").replace("cos", "sin").replace("SIN", "cos"))],
        {"lab10.positional_encoding": 0.0},
        "failed",
        ["positional_encoding(6, 8)", "sine on the even features"],
    ),
    "positional encoding exponent i/d instead of 2i/d": Bug(
        [
            (
                "angles = position / 10000 ** (even / d_model)",
                "angles = position / 10000 ** (even / 2 / d_model)",
            )
        ],
        {"lab10.positional_encoding": 0.0},
        "failed",
        ["the exponent is 2i/d"],
    ),
    # -- TransformerEncoderBlock
    "pre-norm instead of post-norm": Bug(
        [(BLOCK, PRE_NORM)],
        {"lab10.TransformerEncoderBlock": 0.0},
        "failed",
        ["nn.TransformerEncoderLayer(8, 2, 16", "post-norm"],
    ),
    "feed-forward without its residual connection": Bug(
        [(BLOCK, BLOCK.replace("self.norm2(x + self.linear2", "self.norm2(self.linear2"))],
        {"lab10.TransformerEncoderBlock": 0.0},
        "failed",
        ["post-norm"],
    ),
    "block ignores the mask": Bug(
        [(BLOCK, BLOCK.replace("self.self_attn(x, x, x, mask)", "self.self_attn(x, x, x)"))],
        {"lab10.TransformerEncoderBlock": 2.5},
        "failed",
        ["a causal mask [5, 5]", "passes the mask on"],
    ),
    # -- train_sequence_task
    "one epoch of training": Bug(
        [("    for _ in range(8):\n", "    for _ in range(1):\n")],
        {"lab10.train_sequence_task": 0.4},
        "failed",
        ["test accuracy"],
    ),
}
