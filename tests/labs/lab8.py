"""Lab 8's grades as data: the lab, its full marks and its planted bugs (proved by
test_lab8_grades.py)."""

from __future__ import annotations

from tests.helpers import GENEROUS, Bug, Lab

FULL = {
    "lab8.conv2d": 5.0,
    "lab8.max_pool2d": 3.0,
    "lab8.BatchNorm2d": 3.0,
    "lab8.Dropout": 2.0,
    "lab8.SmallCNN": 2.0,
    "lab8.train_digits_cnn": 3.0,
    "lab8.d_conv1d_weight": 2.0,
}
# The task declares its own time budget (60 s); the generous limits only keep a busy machine
# from cutting the other checks short.
LAB = Lab("lab8_convolution", FULL, settings=GENEROUS)

# name -> the replacements in the solution, {exercise: expected score}, expected status, words
#         the exercise's message must contain. Each bug is graded on its exercise only.
BUGS: dict[str, Bug] = {
    # -- conv2d: public 1, 1, 1, 1 (dx, db), 1 (dW), 0.5 (no bias), 0.5 (gradcheck); hidden 1,
    #    0.5 (1x1 kernel), 0.5: 8 weights for 5 points, 0.625 each
    "conv2d with the kernel flipped": Bug(
        [
            (
                "        out = weight.reshape(c_out, -1) @ cols\n",
                "        out = weight.flip(2, 3).reshape(c_out, -1) @ cols\n",
            )
        ],
        {"lab8.conv2d": 0.3125},  # a 1x1 kernel is its own flip
        "failed",
        ["conv2d(randn(2, 3, 7, 6)", "do not flip it"],
    ),
    "conv2d padding on one side only": Bug(
        [("F.pad(x, (pw, pw, ph, ph))", "F.pad(x, (0, 2 * pw, 0, 2 * ph))")],
        {"lab8.conv2d": 1.25},  # the checks without padding pass
        "failed",
        ["padding=1", "on both sides"],
    ),
    "conv2d output size off by one": Bug(
        [("h_out = (h + 2 * ph - kh) // sh + 1", "h_out = (h + 2 * ph - kh) // sh")],
        {"lab8.conv2d": 0.0},
        "error",  # the patches do not fill the output: the reshape raises
        ["3x3 kernel, stride 1", "is invalid for input of size", "reshape(n, c_out, h_out, w_out)"],
    ),
    "conv2d weight gradient summed over the positions before the product": Bug(
        [
            (
                'torch.einsum("nol,nkl->ok", g, cols)',
                'torch.einsum("no,nk->ok", g.sum(2), cols.sum(2))',
            )
        ],
        {"lab8.conv2d": 2.8125},  # one output pixel (hidden) has a single position
        "failed",
        ["the gradient of argument 2", "multiply first, then sum over the batch and the positions"],
    ),
    "conv2d calling F.conv2d": Bug(
        [
            (
                "        out = weight.reshape(c_out, -1) @ cols\n",
                "        out = F.conv2d(padded, weight).reshape(n, c_out, -1)\n",
            )
        ],
        {"lab8.conv2d": 0.0},
        "forbidden",
        ["conv2d"],
    ),
    # -- max_pool2d: public 1, 1, 1; hidden 1, 1: 0.6 points each
    "max_pool2d gradient to every element of the window": Bug(
        [("dcols.scatter_(1, winners[:, None, :], g)", "dcols.copy_(g.expand(cols_shape))")],
        {"lab8.max_pool2d": 0.6},
        "failed",
        ["gradient with 2x2 windows", "not the gradient too"],
    ),
    "max_pool2d default stride 1": Bug(
        [
            (
                "stride = kernel if stride is None else pair(stride)",
                "stride = (1, 1) if stride is None else pair(stride)",
            )
        ],
        {"lab8.max_pool2d": 1.2},
        "error",  # the backward checks' grad_output has the right shape, the output not
        ["max_pool2d(randn(2, 3, 6, 8)", "stride=None means stride = kernel_size"],
    ),
    # -- BatchNorm2d: public 1, 1, 1; hidden 1, 1: 0.6 points each
    "BatchNorm2d biased variance in the running statistics": Bug(
        [("self.momentum * unbiased", "self.momentum * var")],
        {"lab8.BatchNorm2d": 0.6},  # the eval checks use the running variance too
        "failed",
        ["running_var", "unbiased batch variance"],
    ),
    "BatchNorm2d batch statistics in evaluation mode": Bug(
        [
            (
                "        if self.training:\n            mean = x.mean",
                "        if True:\n            mean = x.mean",
            )
        ],
        {"lab8.BatchNorm2d": 1.8},
        "failed",
        ["evaluation mode after 3 training batches", "not with the batch's statistics"],
    ),
    "BatchNorm2d calling F.batch_norm": Bug(
        [
            (
                "        return self.weight[:, None, None] * x_hat + self.bias[:, None, None]\n",
                "        return F.batch_norm(x, mean, var, self.weight, self.bias, eps=self.eps)\n",
            )
        ],
        {"lab8.BatchNorm2d": 0.0},
        "forbidden",
        ["batch_norm"],
    ),
    # -- Dropout: public 1.5 (training), 0.5 (eval); hidden 0.5: 0.8 points each
    "Dropout without the 1/(1-p) scale": Bug(
        [("        return x * mask / (1 - self.p)\n", "        return x * mask\n")],
        {"lab8.Dropout": 0.4},
        "failed",
        ["Dropout(p=0.3)", "without the 1/(1-p) scale"],
    ),
    "Dropout active in evaluation mode": Bug(
        [("        if not self.training:\n            return x\n", "")],
        {"lab8.Dropout": 1.6},
        "failed",
        ["evaluation mode is the identity", "return x unchanged"],
    ),
    "Dropout dropping with probability 1 - p": Bug(
        [("torch.rand_like(x) >= self.p", "torch.rand_like(x) < self.p")],
        {"lab8.Dropout": 0.4},
        "failed",
        ["Dropout(p=0.3)", "of the 20000 elements are zero"],
    ),
    "Dropout calling F.dropout": Bug(
        [("        return x * mask / (1 - self.p)\n", "        return F.dropout(x, self.p)\n")],
        {"lab8.Dropout": 0.0},
        "forbidden",
        ["dropout"],
    ),
    # -- SmallCNN: public 1, hidden 1
    "SmallCNN without the second ReLU": Bug(
        [("x = max_pool2d(torch.relu(self.conv2(x)), 2)", "x = max_pool2d(self.conv2(x), 2)")],
        {"lab8.SmallCNN": 0.0},
        "failed",
        ["SmallCNN() in float32", "conv2, ReLU"],
    ),
    "SmallCNN flattening the batch too": Bug(
        [("self.fc(x.flatten(1))", "self.fc(x.flatten())")],
        {"lab8.SmallCNN": 0.0},
        "error",
        ["batch of 5 digits", "mat1 and mat2 shapes cannot be multiplied", "flatten(1)"],
    ),
    # -- d_conv1d_weight: public 1, hidden 1
    # -- train_digits_cnn: the tiers 80 %, a well-formed history 20 % of 3 points
    "train_digits_cnn recording summed batch losses": Bug(
        [("            total += loss.item() * len(batch)\n", "            total += loss.item()\n")],
        {"lab8.train_digits_cnn": 2.4},
        "failed",
        ["The history's first 'loss' is 0.0", "not between 0.5 and 3"],
    ),
    "d_conv1d_weight with the kernel flipped": Bug(
        [("x[i + j] for j in range(len(w))", "x[i + len(w) - 1 - j] for j in range(len(w))")],
        {"lab8.d_conv1d_weight": 0.0},
        "failed",
        ["d_conv1d_weight([x0, x1, x2], [w0, w1])[0]", "the kernel is not flipped"],
    ),
    "d_conv1d_weight with symbols of its own": Bug(
        [
            (
                "    return [[x[i + j] for j in range(len(w))]",
                '    s = sympy.symbols("x0:3", real=True)\n'
                "    return [[s[i + j] for j in range(len(w))]",
            )
        ],
        {"lab8.d_conv1d_weight": 1.0},
        "failed",
        ["not from symbols of your own"],
    ),
}
