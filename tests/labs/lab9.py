"""Lab 9's grades as data: the lab, its full marks and its planted bugs (proved by
test_lab9_grades.py)."""

from __future__ import annotations

from tests.helpers import GENEROUS, Bug, Lab

FULL = {
    "lab9.RNNCell": 3.0,
    "lab9.rnn_forward": 3.0,
    "lab9.LSTMCell": 4.0,
    "lab9.clip_grad_norm": 3.0,
    "lab9.d_rnn_h2": 2.0,
    "lab9.train_sine_rnn": 3.0,
}
# The task declares its own time budget (30 s); the other exercises need far less than the
# generous limits, which only guard against a busy machine cutting a check short.
LAB = Lab("lab9_recurrent", FULL, points=sum(FULL.values()), settings=GENEROUS)

# -- the solution's lines that the bugs replace ---------------------------------------------
RNN_PRE = (
    "        pre = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh\n"
)
RNN_INIT = (
    "        bound = 1 / math.sqrt(hidden_size)\n        self.weight_ih = nn.Parameter(torch.empty("
)
RNN_ACT = '        return torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)\n'
LSTM_Z = "        z = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh\n"
CLIP_RETURN = "            g.mul_(factor)\n    return total\n"
CLIP_GRADS = "    grads = [p.grad for p in parameters if p.grad is not None]\n"
CLIP_SCALE = """    if factor < 1:
        for g in grads:
            g.mul_(factor)
"""

# name -> the replacements in the solution, {exercise: expected score}, expected status, words
#         the exercise's message must contain. Each bug is graded on its exercise only.
BUGS: dict[str, Bug] = {
    # -- RNNCell: tanh 1.5, relu 0.75, ValueError 0.25, hidden: h=None 0.25, init 0.25
    "RNNCell without the hidden bias": Bug(
        [(RNN_PRE, RNN_PRE.replace(" + self.bias_hh", ""))],
        {"lab9.RNNCell": 0.5},
        "failed",
        ["nn.RNNCell(4, 5)", "both biases"],
    ),
    "RNNCell applies tanh where relu is asked": Bug(
        [(RNN_ACT, "        return torch.tanh(pre)\n")],
        {"lab9.RNNCell": 2.25},
        "failed",
        ['nonlinearity="relu"', "applies relu, not tanh"],
    ),
    "RNNCell initialised with 1/sqrt(input_size)": Bug(
        [(RNN_INIT, RNN_INIT.replace("sqrt(hidden_size)", "sqrt(input_size)"))],
        {"lab9.RNNCell": 2.75},
        "failed",
        ["RNNCell(20, 100)", "1 / math.sqrt(hidden_size)"],
    ),
    "RNNCell built on nn.RNNCell": Bug(
        [(RNN_ACT, "        return nn.RNNCell(1, 1)(x[:, :1])\n")],
        {"lab9.RNNCell": 0.0},
        "forbidden",
        ["RNNCell"],
    ),
    # -- rnn_forward: nn.RNN 1.5, relu 0.5, hidden: long 0.5, one step 0.5
    "rnn_forward does not carry the state": Bug(
        [("        h = cell(x_t, h)\n", "        h = cell(x_t, h0)\n")],
        {"lab9.rnn_forward": 0.5},
        "failed",
        ["x [5, 2, 3] from h0 [2, 4]", "the new state feeds the next step"],
    ),
    "rnn_forward ignores h0": Bug(
        [("    h = h0\n    states = []\n", "    h = torch.zeros_like(h0)\n    states = []\n")],
        {"lab9.rnn_forward": 0.0},
        "failed",
        ["x [5, 2, 3] from h0 [2, 4]", "start from h = h0"],
    ),
    "rnn_forward returns the first state as h_T": Bug(
        [("    return torch.stack(states), h\n", "    return torch.stack(states), states[0]\n")],
        {"lab9.rnn_forward": 0.5},
        "failed",
        ["x [5, 2, 3] from h0 [2, 4]", "the last state h_T"],
    ),
    "rnn_forward includes h0 in the outputs": Bug(
        [("    states = []\n    for x_t in x:", "    states = [h0]\n    for x_t in x:")],
        {"lab9.rnn_forward": 0.0},
        "failed",
        ["x [5, 2, 3] from h0 [2, 4]", "h_1..h_T"],
    ),
    # -- LSTMCell: 1.5, 1.0, hidden: zeros 0.5, batch of 8 0.5, init 0.5
    "LSTMCell gates in the order i, f, o, g": Bug(
        [
            (
                "        z_i, z_f, z_g, z_o = z.chunk(4, dim=1)\n",
                "        z_i, z_f, z_o, z_g = z.chunk(4, dim=1)\n",
            )
        ],
        {"lab9.LSTMCell": 0.5},
        "failed",
        ["nn.LSTMCell(3, 4)", "in the order i, f, g, o"],
    ),
    "LSTMCell forget gate on h instead of c": Bug(
        [("        c_next = f * c + i * g\n", "        c_next = f * h + i * g\n")],
        {"lab9.LSTMCell": 1.0},
        "failed",
        ["nn.LSTMCell(3, 4)", "the forget gate scales the old cell state c"],
    ),
    "LSTMCell without the hidden bias": Bug(
        [(LSTM_Z, LSTM_Z.replace(" + self.bias_hh", ""))],
        {"lab9.LSTMCell": 0.5},
        "failed",
        ["nn.LSTMCell(3, 4)", "bias_hh"],
    ),
    "LSTMCell h' from the old cell state": Bug(
        [("        h_next = o * torch.tanh(c_next)\n", "        h_next = o * torch.tanh(c)\n")],
        {"lab9.LSTMCell": 0.5},
        "failed",
        ["nn.LSTMCell(3, 4)", "tanh(c')"],
    ),
    # -- clip_grad_norm: above 1.25, below 0.75; hidden, 0.25 each: without .grad, just
    #    below, tiny, none
    "clip_grad_norm clips each gradient separately": Bug(
        [
            (
                CLIP_SCALE,
                """    for g in grads:
        norm = torch.sqrt((g**2).sum())
        if norm > max_norm:
            g.mul_(max_norm / (norm + 1e-6))
""",
            )
        ],
        {"lab9.clip_grad_norm": 1.25},
        "failed",
        ["global norm of", "on its own"],
    ),
    "clip_grad_norm scales below max_norm too": Bug(
        [(CLIP_SCALE, "    for g in grads:\n        g.mul_(factor)\n")],
        {"lab9.clip_grad_norm": 2.0},
        "failed",
        ["max_norm=100.0", "only when the norm exceeds max_norm"],
    ),
    "clip_grad_norm returns the clipped norm": Bug(
        [
            (
                CLIP_RETURN,
                CLIP_RETURN.replace("total", "torch.sqrt(sum((g**2).sum() for g in grads))"),
            )
        ],
        {"lab9.clip_grad_norm": 1.25},
        "failed",
        ["max_norm=1.0", "before clipping"],
    ),
    "clip_grad_norm sums the per-parameter norms": Bug(
        [
            (
                "    total = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))\n",
                "    total = sum(torch.sqrt((g.detach() ** 2).sum()) for g in grads)\n",
            )
        ],
        {"lab9.clip_grad_norm": 0.25},
        "failed",
        ["max_norm=1.0", "not the sum of the per-parameter norms"],
    ),
    "clip_grad_norm returns 1 without gradients": Bug(
        [("        return torch.tensor(0.0)\n", "        return torch.tensor(1.0)\n")],
        {"lab9.clip_grad_norm": 2.75},
        "failed",
        ["no parameter has a gradient", "global norm of 0", "return torch.tensor(0.0)"],
    ),
    "clip_grad_norm calls clip_grad_norm_": Bug(
        [(CLIP_GRADS, "    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)\n")],
        {"lab9.clip_grad_norm": 0.0},
        "forbidden",
        ["clip_grad_norm_"],
    ),
    # -- d_rnn_h2
    "d_rnn_h2 without the path through h1": Bug(
        [("    return (1 - h2**2) * (h1 + w * dh1)\n", "    return (1 - h2**2) * h1\n")],
        {"lab9.d_rnn_h2": 0.0},
        "failed",
        ["w appears twice"],
    ),
    # -- train_sine_rnn: history 20 %, MSE tiers 0.01 (half), 0.004 (all)
    "train_sine_rnn trains one epoch": Bug(
        [("    for _ in range(8):\n", "    for _ in range(1):\n")],
        {"lab9.train_sine_rnn": 0.6},
        "failed",
        ["MSE", "8 epochs"],
    ),
}
