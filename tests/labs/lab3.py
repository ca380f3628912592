"""Lab 3's grades as data: the lab, its full marks and its planted bugs (see
test_lab3_grades.py, which proves them; other tests reuse them)."""

from __future__ import annotations

from deepgrade.model.results import LabResult
from tests.helpers import Bug, Grader, Lab

FULL = {
    "lab3.mse_loss": 2.0,
    "lab3.l1_loss": 2.0,
    "lab3.binary_cross_entropy": 2.5,
    "lab3.binary_cross_entropy_with_logits": 2.5,
    "lab3.cross_entropy": 3.0,
    "lab3.one_hot": 1.0,
    "lab3.zero_one_loss": 1.0,
    "lab3.l1_penalty": 1.0,
    "lab3.l2_penalty": 1.0,
    "lab3.d_bce_with_logits": 1.5,
    "lab3.d_softmax_cross_entropy": 2.5,
}


LAB = Lab("lab3_losses", FULL)


MSE_BACKWARD = "        return grad_output * 2 * residual / residual.numel(), None"


BCE_FORWARD_LOGS = (
    "        log_p = torch.log(p).clamp(min=-100)\n"
    "        log_not_p = torch.log(1 - p).clamp(min=-100)\n"
)


CE_SHIFT = "        shifted = logits - logits.amax(dim=1, keepdim=True)"


ONE_HOT_RETURN = "    return (target.unsqueeze(-1) == classes).to(torch.int64)"


L2_LOOP = "        total = total + (w * w).sum()\n    return total"


D_SOFTMAX_RETURN = (
    "    return [sympy.exp(z_i) / total - (1 if i == k else 0) for i, z_i in enumerate(z)]"
)


# name -> the replacements in the solution, {exercise: expected score}, {exercise: expected
#         status}, words the failing exercise's message must contain. Only the exercises named
#         in the scores count for the bug. Bugs in different exercises share one grading run
#         (see _rounds).
BUGS: dict[str, Bug] = {
    # MSE: the forward (0.75 of 2.5) stands, every gradient check falls.
    "MSE backward without /N": Bug(
        [(MSE_BACKWARD, "        return grad_output * 2 * residual, None")],
        {"lab3.mse_loss": 0.6},
        {"lab3.mse_loss": "failed"},
        ["the gradient of argument 1", "20 times the expected", "divide by N"],
    ),
    "MSE backward without the 2": Bug(
        [(MSE_BACKWARD, "        return grad_output * residual / residual.numel(), None")],
        {"lab3.mse_loss": 0.6},
        {"lab3.mse_loss": "failed"},
        ["0.5 times the expected", "keep the factor 2"],
    ),
    # L1: only the check at a zero residual sees sign(0).
    "L1 backward with sign(0) = 1": Bug(
        [
            (
                "        ctx.save_for_backward(torch.sign(residual))",
                "        ctx.save_for_backward(torch.where(residual >= 0, 1.0, -1.0).to(y_hat))",
            )
        ],
        {"lab3.l1_loss": 1.5},
        {"lab3.l1_loss": "failed"},
        ["backward where the residual is 0", "l1_loss(tensor([0, 1, -1", "sign(0) = 0"],
    ),
    # L1 summed: the gradient alone (the sympy check) is right, 0.5 of 2.
    "L1 forward sums instead of averaging": Bug(
        [("        return residual.abs().mean()", "        return residual.abs().sum()")],
        {"lab3.l1_loss": 0.5},
        {"lab3.l1_loss": "failed"},
        ["forward on random inputs", "the mean of |y_hat - y|, not the sum"],
    ),
    # BCE: the two checks at p = 0 and 1 (forward, and backward that compares the value first).
    "BCE without clamping the logs": Bug(
        [
            (
                BCE_FORWARD_LOGS,
                "        log_p = torch.log(p)\n        log_not_p = torch.log(1 - p)\n",
            )
        ],
        {"lab3.binary_cross_entropy": 1.5},
        {"lab3.binary_cross_entropy": "failed"},
        ["forward at p = 0 and p = 1", "got nan", "0 * (-inf) is nan"],
    ),
    "BCE clamping p instead of the logs": Bug(
        [
            (
                BCE_FORWARD_LOGS,
                "        q = p.clamp(1e-7, 1 - 1e-7)\n"
                "        log_p = torch.log(q)\n"
                "        log_not_p = torch.log(1 - q)\n",
            )
        ],
        {"lab3.binary_cross_entropy": 1.5},
        {"lab3.binary_cross_entropy": "failed"},
        ["binary_cross_entropy(tensor([0, 1, 0, 1", "not p itself"],
    ),
    "BCE gradient without the 1e-12 floor": Bug(
        [
            (
                "        denominator = (p * (1 - p)).clamp(min=1e-12)",
                "        denominator = p * (1 - p)",
            )
        ],
        {"lab3.binary_cross_entropy": 2.0},
        {"lab3.binary_cross_entropy": "failed"},
        ["backward at p = 0 and p = 1", "got nan", "max(p (1 - p), 1e-12)"],
    ),
    "BCE with logits overflowing for z = -1e4": Bug(
        [
            (
                "        per_element = z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))",
                "        per_element = (1 - y) * z + torch.log(1 + torch.exp(-z))",
            )
        ],
        {"lab3.binary_cross_entropy_with_logits": 2.0},
        {"lab3.binary_cross_entropy_with_logits": "failed"},
        ["forward at logits of +-1e4", "got inf", "log(1 + exp(-z)) is inf at z = -1e4"],
    ),
    # Cross-entropy: large logits (forward, and the hidden backward there) fall, 0.75 of 3.
    "cross-entropy without the max subtraction": Bug(
        [(CE_SHIFT, "        shifted = logits")],
        {"lab3.cross_entropy": 2.25},
        {"lab3.cross_entropy": "failed"},
        ["cross_entropy(tensor([10000, 0, -10000", "exp(1e4) overflows"],
    ),
    "cross-entropy shifted by the batch's maximum": Bug(
        [(CE_SHIFT, "        shifted = logits - logits.max()")],
        {"lab3.cross_entropy": 2.5},
        {"lab3.cross_entropy": "failed"},
        ["rows on very different scales", "maximum of the whole batch"],
    ),
    "cross-entropy backward without /n": Bug(
        [
            (
                "        return grad_output * grad / probs.shape[0], None",
                "        return grad_output * grad, None",
            )
        ],
        {"lab3.cross_entropy": 1.5},
        {"lab3.cross_entropy": "failed"},
        ["the gradient of argument 1", "4 times the expected", "/ n"],
    ),
    "cross-entropy calls logsumexp": Bug(
        [
            (
                "        log_norm = torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))",
                "        log_norm = torch.logsumexp(shifted, dim=1, keepdim=True)",
            )
        ],
        {"lab3.cross_entropy": 0.0},
        {"lab3.cross_entropy": "forbidden"},
        ["logsumexp called in CrossEntropyLoss"],
    ),
    # one_hot: right values in the wrong dtype keep only the three ValueError checks (0.75/1.75;
    # scores are rounded to 6 decimals).
    "one_hot returns float32": Bug(
        [(ONE_HOT_RETURN, "    return (target.unsqueeze(-1) == classes).float()")],
        {"lab3.one_hot": 0.428571},
        {"lab3.one_hot": "failed"},
        ["dtype float32, expected int64", "return an int64 tensor"],
    ),
    "one_hot from the float identity matrix": Bug(
        [(ONE_HOT_RETURN, "    return torch.eye(K, device=target.device)[target]")],
        {"lab3.one_hot": 0.428571},
        {"lab3.one_hot": "failed"},
        ["one_hot(tensor([2, 0, 3, 3, 1, 0], dtype=int64), 4)", "dtype float32, expected int64"],
    ),
    "one_hot without the range check": Bug(
        [
            (
                "    if target.numel() > 0 and (target.min() < 0 or target.max() >= K):\n"
                '        raise ValueError(f"class indices must lie in [0, {K - 1}]")\n',
                "",
            )
        ],
        {"lab3.one_hot": 0.571429},
        {"lab3.one_hot": "failed"},
        ["one_hot(tensor([0, 2, 3, 1], dtype=int64), 3) returned a tensor", "raise a ValueError"],
    ),
    "zero_one_loss returns the accuracy": Bug(
        [
            (
                "    wrong = logits.argmax(dim=1) != target",
                "    wrong = logits.argmax(dim=1) == target",
            )
        ],
        {"lab3.zero_one_loss": 0.0},
        {"lab3.zero_one_loss": "failed"},
        ["error rate on random logits", "this is the accuracy"],
    ),
    "L1 penalty takes the mean": Bug(
        [
            ("    total = params[0].abs().sum()", "    total = params[0].abs().mean()"),
            ("        total = total + w.abs().sum()", "        total = total + w.abs().mean()"),
        ],
        {"lab3.l1_penalty": 0.0},
        {"lab3.l1_penalty": "failed"},
        ["l1_penalty([4 tensors of shapes [4, 3], [4], [2, 4], [2]])", "not a mean per tensor"],
    ),
    "L2 penalty halved": Bug(
        [(L2_LOOP, "        total = total + (w * w).sum()\n    return total / 2")],
        {"lab3.l2_penalty": 0.0},
        {"lab3.l2_penalty": "failed"},
        ["0.5 times the expected", "not halved: drop the factor 1/2"],
    ),
    "L2 penalty with a square root": Bug(
        [(L2_LOOP, "        total = total + (w * w).sum()\n    return total.sqrt()")],
        {"lab3.l2_penalty": 0.0},
        {"lab3.l2_penalty": "failed"},
        ["l2_penalty([4 tensors", "with no square root"],
    ),
    "wrong sign in d_bce_with_logits": Bug(
        [("    return 1 / (1 + sympy.exp(-z)) - y", "    return y - 1 / (1 + sympy.exp(-z))")],
        {"lab3.d_bce_with_logits": 0.0},
        {"lab3.d_bce_with_logits": "failed"},
        ["d_bce_with_logits(z, y) returned", "not d/dz", "sigmoid(z) - y"],
    ),
    "d_softmax_cross_entropy forgets the -1 at k": Bug(
        [(D_SOFTMAX_RETURN, "    return [sympy.exp(z_i) / total for z_i in z]")],
        {"lab3.d_softmax_cross_entropy": 0.0},
        {"lab3.d_softmax_cross_entropy": "failed"},
        ["d_softmax_cross_entropy([z0, z1, z2], 1)[1] returned", "subtract 1 at the true class"],
    ),
    "d_softmax_cross_entropy with sympy.diff": Bug(
        [
            (
                D_SOFTMAX_RETURN,
                "    loss = -z[k] + sympy.log(total)\n"
                "    return [sympy.diff(loss, z_i) for z_i in z]",
            )
        ],
        {"lab3.d_softmax_cross_entropy": 0.0},
        {"lab3.d_softmax_cross_entropy": "forbidden"},
        ["diff called in d_softmax_cross_entropy"],
    ),
}


def _rounds() -> list[list[str]]:
    """The bugs in groups that touch disjoint exercises, so that one grading serves a group.

    Lab 3's exercises are independent functions, so bugs in different exercises cannot see
    each other; each bug is still graded on the exercises it touches only.
    """
    rounds: list[list[str]] = []
    for name in sorted(BUGS):
        touched = set(BUGS[name].score)
        for group in rounds:
            if not touched & {e for other in group for e in BUGS[other].score}:
                group.append(name)
                break
        else:
            rounds.append([name])
    return rounds


ROUNDS = _rounds()


_GRADED: dict[int, LabResult] = {}


def graded_bug(bug: str, grade_text: Grader) -> LabResult:
    """The result of the round that holds ``bug``, graded by the first test that needs it."""
    index = next(i for i, group in enumerate(ROUNDS) if bug in group)
    if index not in _GRADED:
        group = ROUNDS[index]
        source = LAB.planted(*(BUGS[name] for name in group))
        exercises = [e for name in group for e in BUGS[name].score]
        _GRADED[index] = grade_text(source, name=LAB.name, exercises=exercises)
    return _GRADED[index]
