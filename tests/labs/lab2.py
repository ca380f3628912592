"""Lab 2's grades as data: the lab, its full marks and its planted bugs (see
test_lab2_grades.py, which proves them; other tests reuse them)."""

from __future__ import annotations

from tests.helpers import Bug, Lab

FULL = {
    "lab2.sigmoid": 2.0,
    "lab2.tanh": 2.0,
    "lab2.relu": 2.0,
    "lab2.leaky_relu": 1.5,
    "lab2.elu": 1.5,
    "lab2.softplus": 2.0,
    "lab2.heaviside": 1.0,
    "lab2.prelu": 2.0,
    "lab2.softmax": 2.0,
    "lab2.d_sigmoid": 1.0,
    "lab2.d_tanh": 1.0,
    "lab2.d_softplus": 1.0,
    "lab2.d_elu": 1.0,
}


LAB = Lab("lab2_activations", FULL)


SIGMOID_FORWARD = """        e = torch.exp(-x.abs())
        y = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(y)"""


# name -> the replacements in the solution, {exercise: expected score}, {exercise: expected
#         status}, words the failing exercise's message must contain
BUGS: dict[str, Bug] = {
    "overflowing sigmoid": Bug(
        [
            (
                SIGMOID_FORWARD,
                "        y = torch.exp(x) / (1 + torch.exp(x))\n        ctx.save_for_backward(y)",
            )
        ],
        {"lab2.sigmoid": 1.5},
        {"lab2.sigmoid": "failed"},
        ["sigmoid(tensor([0, 10000, -10000", "expected 1, got nan", "overflow"],
    ),
    "forward calls torch.sigmoid": Bug(
        [(SIGMOID_FORWARD, "        y = torch.sigmoid(x)\n        ctx.save_for_backward(y)")],
        {"lab2.sigmoid": 0.0},
        {"lab2.sigmoid": "forbidden"},
        ["sigmoid called in Sigmoid"],
    ),
    "forward calls torch.sigmoid through an alias": Bug(
        [
            (
                SIGMOID_FORWARD,
                '        y = getattr(torch, "sig" + "moid")(x)\n        ctx.save_for_backward(y)',
            )
        ],
        {"lab2.sigmoid": 0.0},
        {"lab2.sigmoid": "forbidden"},
        ["called sigmoid"],
    ),
    "backward ignores grad_output": Bug(
        [("        return grad_output * y * (1 - y)\n", "        return y * (1 - y)\n")],
        {"lab2.sigmoid": 1.0},
        {"lab2.sigmoid": "failed"},
        ["multiply the local derivative by grad_output"],
    ),
    "tanh backward from the wrong cache": Bug(
        [
            (
                "        y = torch.copysign(-torch.expm1(-2 * x.abs()) / (1 + e), x)\n"
                "        ctx.save_for_backward(y)",
                "        y = torch.copysign(-torch.expm1(-2 * x.abs()) / (1 + e), x)\n"
                "        ctx.save_for_backward(x)",
            )
        ],
        {"lab2.tanh": 0.75},
        {"lab2.tanh": "failed"},
        ["the gradient of x", "1 - tanh(x)^2"],
    ),
    "ReLU'(0) = 1": Bug(
        [
            (
                "        return torch.where(x > 0, grad_output, 0.0)",
                "        return torch.where(x >= 0, grad_output, 0.0)",
            )
        ],
        {"lab2.relu": 1.5},
        {"lab2.relu": "failed"},
        ["backward at the kink", "ReLU'(0) = 0", "The input there is 0"],
    ),
    "LeakyReLU with a hard-coded slope": Bug(
        [
            (
                "        return torch.where(x > 0, x, negative_slope * x)",
                "        return torch.where(x > 0, x, 0.01 * x)",
            ),
            ("ctx.negative_slope * grad_output", "0.01 * grad_output"),
        ],
        {"lab2.leaky_relu": 0.5625},
        {"lab2.leaky_relu": "failed"},
        ["negative_slope=0.2", "use the negative_slope argument"],
    ),
    "ELU ignoring alpha": Bug(
        [
            ("alpha * torch.expm1(x.clamp(max=0))", "torch.expm1(x.clamp(max=0))"),
            (
                "        slope = ctx.alpha * torch.exp(x.clamp(max=0))",
                "        slope = torch.exp(x.clamp(max=0))",
            ),
        ],
        {"lab2.elu": 0.666667},
        {"lab2.elu": "failed"},
        ["alpha=1.7", "use the alpha argument"],
    ),
    "unstable softplus": Bug(
        [
            (
                "        y = x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))",
                "        y = torch.log(1 + torch.exp(x))",
            )
        ],
        {"lab2.softplus": 1.5},
        {"lab2.softplus": "failed"},
        ["expected 10000, got inf", "log1p"],
    ),
    "heaviside(0) = 0": Bug(
        [("        return (x >= 0).to(x.dtype)", "        return (x > 0).to(x.dtype)")],
        {"lab2.heaviside": 0.625},
        {"lab2.heaviside": "failed"},
        ["expected 1, got 0", "heaviside(0) = 1"],
    ),
    "PReLU without the gradient of a": Bug(
        [("        return grad_x, grad_a.reshape(a.shape)", "        return grad_x, None")],
        {"lab2.prelu": 0.666667},
        {"lab2.prelu": "failed"},
        ["the gradient of argument 2 should be a tensor", "the gradient of a too"],
    ),
    # Found by grade audit: the gradient of a has a's shape, and the check's message crashed
    # showing the input at its worst element as if it were the gradient of x.
    "PReLU's gradient of a without x": Bug(
        [
            (
                "grad_a_full = torch.where(positive, 0.0, x * grad_output)",
                "grad_a_full = torch.where(positive, 0.0, grad_output)",
            )
        ],
        {"lab2.prelu": 0.666667},
        {"lab2.prelu": "failed"},
        ["the gradient of argument 2 differs", "a constant factor is off"],
    ),
    "softmax without the max shift": Bug(
        [
            (
                "        e = torch.exp(x - x.amax(dim=dim, keepdim=True))",
                "        e = torch.exp(x)",
            )
        ],
        {"lab2.softmax": round(2 * 3.5 / 4.5, 6)},
        {"lab2.softmax": "failed"},
        ["forward with large logits", "subtract each row's maximum"],
    ),
    "softmax over the wrong dim": Bug(
        [
            (
                "        e = torch.exp(x - x.amax(dim=dim, keepdim=True))\n"
                "        y = e / e.sum(dim=dim, keepdim=True)",
                "        e = torch.exp(x - x.amax(dim=-1, keepdim=True))\n"
                "        y = e / e.sum(dim=-1, keepdim=True)",
            ),
            ("        ctx.dim = dim\n", "        ctx.dim = -1\n"),
        ],
        {"lab2.softmax": round(2 * 3.5 / 4.5, 6)},
        {"lab2.softmax": "failed"},
        ["forward along dim 0", "use the dim argument"],
    ),
    "wrong derivation of tanh": Bug(
        [("    return 1 - sympy.tanh(x) ** 2", "    return 1 + sympy.tanh(x) ** 2")],
        {"lab2.d_tanh": 0.0},
        {"lab2.d_tanh": "failed"},
        ["tanh(x)**2 + 1", "not d/dx of tanh(x)"],
    ),
    "derivation with sympy.diff": Bug(
        [("    return 1 - sympy.tanh(x) ** 2", "    return sympy.diff(sympy.tanh(x), x)")],
        {"lab2.d_tanh": 0.0},
        {"lab2.d_tanh": "forbidden"},
        ["diff called in d_tanh"],
    ),
}
