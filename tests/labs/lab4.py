"""Lab 4's grades as data: the lab, its full marks and its planted bugs (see
test_lab4_grades.py, which proves them; other tests reuse them)."""

from __future__ import annotations

from tests.helpers import Bug, Lab

CHAIN = "lab4.chain_rule_grads"


VALUE = "lab4.Value"


NUMERIC = "lab4.numerical_gradient"


LINEAR = "lab4.LinearFunction"


MLP2 = "lab4.mlp2_loss_and_grads"


FULL = {CHAIN: 2.0, VALUE: 7.0, NUMERIC: 3.0, LINEAR: 3.0, MLP2: 5.0}


LAB = Lab("lab4_backprop", FULL)


# Weights (hidden checks included), per exercise (points / total weight):
# - chain_rule_grads (2 / 2.5): 1.0 random points, 0.5 the notebook's example,
#   0.5 Python floats for int arguments; hidden 0.5 large points.
# - Value (7 / 7): 1.25 + - *, 1.25 division and powers, 1.0 exp/log/tanh, 0.5 relu and
#   sigmoid, 0.5 relu(0) and sigmoid(+-800), 1.5 reuse, 0.5 random graphs; hidden 0.5 random.
# - numerical_gradient (3 / 3.25): 1.0 sin_cubic, 0.5 logsumexp, 0.5 x untouched (eps 1e-3),
#   0.5 float32; hidden 0.25 logsumexp, 0.25 0-dim x, 0.25 a transposed x left untouched.
# - LinearFunction (3 / 3): 0.75 forward, 0.5 per gradient, 0.25 gradcheck; hidden 0.25 each
#   for a larger layer and a batch of one (forward and all gradients).
# - mlp2_loss_and_grads (5 / 5): 1.0 loss, 1.5 W2/b2, 1.5 W1/b1, 0.5 exact zeros of A;
#   hidden 0.5 every gradient on a larger network.
CHAIN_BACKWARD = "    df_dq = df_df * z\n    df_dz = df_df * q\n"


WRAP = "        other = other if isinstance(other, Value) else Value(other)\n"


SIGMOID = (
    "        e = math.exp(-abs(self.data))\n"
    "        s = 1.0 / (1.0 + e) if self.data >= 0 else e / (1.0 + e)\n"
)


TOPOLOGICAL = (
    "        # Topological order: a node is appended once all its inputs have been.\n"
    "        order, seen = [], set()\n"
)


# micrograd without the topological sort: each node pushes its gradient on at once.
RECURSIVE = (
    "        self.grad = 1.0\n\n"
    "        def push(node):\n"
    "            for parent, local in node._inputs:\n"
    "                parent.grad += node.grad * local\n"
    "                push(parent)\n\n"
    "        push(self)\n"
    "        return\n"
    "        order, seen = [], set()\n"
)


CENTRAL = "(f_plus - f_minus) / (2 * eps)"


MLP2_FORWARD = "    # Forward pass, keeping the intermediate results.\n    A = X @ W1.T + b1\n"


AUTOGRAD_FORWARD = (
    "    params = [p.detach().requires_grad_() for p in (W1, b1, W2, b2)]\n"
    "    out = (X @ params[0].T + params[1]).clamp(min=0) @ params[2].T + params[3]\n"
    "    loss = ((out - Y) ** 2).mean()\n"
)


NAMES = '("W1", "b1", "W2", "b2")'


# name -> the replacements in the solution, {exercise: expected score}, {exercise: status},
#         words the message must contain
BUGS: dict[str, Bug] = {
    # -- chain_rule_grads
    "chain rule: each factor gets itself": Bug(
        [(CHAIN_BACKWARD, "    df_dq = df_df * q\n    df_dz = df_df * z\n")],
        {CHAIN: 0.4},
        {CHAIN: "failed"},
        [
            "chain_rule_grads(1.0, -3.0, 4.0)",
            "df/dx should be 4, got -2.0",
            "the OTHER factor",
            # The hidden check's inputs are plain numbers: they must not be shown.
            "chain_rule_grads(<hidden number>, <hidden number>, <hidden number>)",
        ],
    ),
    "chain rule: ints for int arguments": Bug(
        [(CHAIN_BACKWARD + "    df_dx", "    return z, z, x + y\n" + CHAIN_BACKWARD + "    df_dx")],
        {CHAIN: 1.6},
        {CHAIN: "failed"},
        ["chain_rule_grads(1, -3, 4)", "(4, 4, -2), with items of type int", "float(df_dx)"],
    ),
    # -- Value: reuse and order of backward lose 1.5 + 0.5 + 0.5
    "Value: backward assigns instead of accumulating": Bug(
        [("parent.grad += node.grad * local", "parent.grad = node.grad * local")],
        {VALUE: 4.5},
        {VALUE: "failed"},
        ["out = (a * a)", "d/da should be 3, got 1.5", "(+= in backward)"],
    ),
    "Value: recursive backward without a topological order": Bug(
        [(TOPOLOGICAL, RECURSIVE)],
        {VALUE: 4.5},
        {VALUE: "failed"},
        ["out = (((a * b) + a) * (a * b))", "d/da should be -0.75", "reverse topological order"],
    ),
    # Multiplication is everywhere (neg, sub, div): only exp/log/tanh, relu/sigmoid stand.
    "Value: local derivatives of * swapped": Bug(
        [("((self, other.data), (other, self.data))", "((self, self.data), (other, other.data))")],
        {VALUE: 2.0},
        {VALUE: "failed"},
        ["out = (a - b)", "d/db should be -1, got -2.0", "times b.data (the other factor)"],
    ),
    "Value: 2 - a computed as a - 2": Bug(
        [("        return Value(other) + (-self)", "        return self - other")],
        {VALUE: 5.25},
        {VALUE: "failed"},
        [
            "out = (2.5 - a)",
            "the value should be 1, got -1.0",
            "2 - a is not a - 2",
            # A hidden program's leaves and constants stay hidden: only its operations show.
            "[hidden] random deep graphs, every operator: a hidden expression built with "
            "(-a), (a + c), (c - a): the value should be",
        ],
    ),
    "Value: derivative of a ** p is p * a ** p": Bug(
        [("p * self.data ** (p - 1)", "p * self.data**p")],
        {VALUE: 4.75},
        {VALUE: "failed"},
        ["out = (a / b)", "d/db should be -2.34375", "p * a ** (p - 1)"],
    ),
    "Value: tanh derivative from the input": Bug(
        [("((self, 1.0 - t * t),)", "((self, 1.0 - self.data**2),)")],
        {VALUE: 5.0},
        {VALUE: "failed"},
        ["a = Value(0.4), out = a.tanh()", "got 0.84", "the output, not the input"],
    ),
    "Value: relu'(0) = 1": Bug(
        [("((self, 1.0 if positive else 0.0),)", "((self, 1.0 if self.data >= 0 else 0.0),)")],
        {VALUE: 6.5},
        {VALUE: "failed"},
        ["a = Value(0.0), out = a.relu()", "d/da should be 0, got 1.0", "relu'(0) = 0"],
    ),
    "Value: sigmoid overflows at -800": Bug(
        [(SIGMOID, "        s = 1.0 / (1.0 + math.exp(-self.data))\n")],
        {VALUE: 6.5},
        {VALUE: "failed"},
        ["a = Value(-800.0), out = a.sigmoid()", "OverflowError", "exponentiate -|a|"],
    ),
    "Value: plain numbers not wrapped": Bug(
        [
            (
                WRAP + "        return Value(self.data + other.data",
                "        return Value(self.data + other.data",
            ),
            (
                WRAP + "        return Value(self.data * other.data",
                "        return Value(self.data * other.data",
            ),
        ],
        {VALUE: 4.75},
        {VALUE: "failed"},
        ["out = (a - b)", "AttributeError: 'float' object has no attribute 'data'", "wrapped"],
    ),
    # -- numerical_gradient
    "numerical_gradient: forward difference": Bug(
        [
            ("flat[i] = original - eps\n", "flat[i] = original\n"),
            (CENTRAL, "(f_plus - f_minus) / eps"),
        ],
        {NUMERIC: 1.384615},
        {NUMERIC: "failed"},
        ["<test function sin_cubic>", "differs at 7 of 12", "use the central difference"],
    ),
    # sin_cubic is a sum over entries, so shifting the earlier entries changes no result.
    "numerical_gradient: x left shifted by -eps": Bug(
        [
            ("point = x.detach().clone(memory_format=torch.contiguous_format)", "point = x"),
            ("            flat[i] = original\n            slopes", "            slopes"),
        ],
        {NUMERIC: 2.307692},
        {NUMERIC: "error"},
        ["eps=0.001) modified its arguments in place", "|diff| 0.001", "work on a copy of x"],
    ),
    "numerical_gradient: float32 result": Bug(
        [("torch.tensor(slopes, dtype=x.dtype,", "torch.tensor(slopes,")],
        {NUMERIC: 0.461538},
        {NUMERIC: "failed"},
        ["has dtype float32, expected float64", "pass dtype=x.dtype"],
    ),
    # -- LinearFunction: forward and the other two gradients stand (0.75 + 0.5 + 0.5)
    "LinearFunction: db summed to a scalar": Bug(
        [("grad_output.sum(0)", "grad_output.sum()")],
        {LINEAR: 1.75},
        # A wrong gradient is a wrong answer (issue 17), worded as a forward's mismatch.
        {LINEAR: "failed"},
        [
            "backward: the gradient of b",
            "LinearFunction.backward returned for its input 3 has shape [], expected [4]",
        ],
    ),
    "LinearFunction: dW transposed": Bug(
        [("grad_output.T @ x", "x.T @ grad_output")],
        {LINEAR: 1.75},
        {LINEAR: "failed"},
        [
            "backward: the gradient of W",
            "LinearFunction.backward returned for its input 2 has shape [3, 4], expected [4, 3]",
        ],
    ),
    # -- mlp2_loss_and_grads
    "mlp2: 2 / n instead of 2 / (n k)": Bug(
        [("2.0 * diff / diff.numel()", "2.0 * diff / diff.shape[0]")],
        {MLP2: 1.0},
        {MLP2: "failed"},
        ["grads['W2']", "2 times the expected", "2 (Y_hat - Y) / (n k)"],
    ),
    "mlp2: relu'(0) = 1": Bug(
        [("torch.where(A > 0, dH, 0.0)", "torch.where(A >= 0, dH, 0.0)")],
        {MLP2: 4.5},
        {MLP2: "failed"},
        ["tensor([1, 2, 5, -1, 0], dtype=float32)", "grads['W1']", "not A >= 0"],
    ),
    "mlp2: dW2 transposed": Bug(
        [("dW2 = dY_hat.T @ H", "dW2 = H.T @ dY_hat")],
        {MLP2: 3.0},
        {MLP2: "failed"},
        ["grads['W2'] has shape [5, 2], expected [2, 5]", "H^T dY_hat is its transpose"],
    ),
    "mlp2: db1 summed to a scalar": Bug(
        [("db1 = dA.sum(0)", "db1 = dA.sum()")],
        {MLP2: 2.5},
        {MLP2: "failed"},
        ["grads['b1'] has shape [], expected [5]", "dA.sum(0), shape [h]"],
    ),
    "mlp2: loss returned with .item()": Bug(
        [("loss = (diff * diff).mean()", "loss = (diff * diff).mean().item()")],
        {MLP2: 4.0},
        {MLP2: "failed"},
        ["the loss should be a tensor, but it is float", "not loss.item()"],
    ),
    "mlp2: autograd through .backward()": Bug(
        [
            (
                MLP2_FORWARD,
                AUTOGRAD_FORWARD + "    loss.backward()\n"
                f"    return loss.detach(), dict(zip({NAMES}, [p.grad for p in params]))\n"
                + MLP2_FORWARD,
            )
        ],
        {MLP2: 0.0},
        {MLP2: "forbidden"},
        ["backward called in mlp2_loss_and_grads"],
    ),
    # Out of the source scan's sight: the worker's tripwire sees the calls themselves.
    "mlp2: autograd hidden behind getattr": Bug(
        [
            (
                MLP2_FORWARD,
                "    params = [getattr(p.detach(), 'requires' + '_grad_')()"
                " for p in (W1, b1, W2, b2)]\n"
                "    out = (X @ params[0].T + params[1]).clamp(min=0) @ params[2].T + params[3]\n"
                "    loss = ((out - Y) ** 2).mean()\n"
                "    getattr(loss, 'back' + 'ward')(retain_graph=True)\n"
                "    grads = getattr(torch.autograd, 'gr' + 'ad')(loss, params)\n"
                f"    return loss.detach(), dict(zip({NAMES}, grads))\n" + MLP2_FORWARD,
            )
        ],
        {MLP2: 0.0},
        {MLP2: "forbidden"},
        # The worker stops the first forbidden call: the message names that one.
        ["mlp2_loss_and_grads called requires_grad_"],
    ),
}
