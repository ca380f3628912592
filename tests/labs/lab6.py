"""Lab 6's grades as data: the lab, its full marks and its planted bugs (see
test_lab6_grades.py, which proves them; other tests reuse them)."""

from __future__ import annotations

from tests.helpers import (
    GENEROUS,
    Bug,
    Lab,
)

FULL = {
    "lab6.SGD": 3.0,
    "lab6.Adam": 3.0,
    "lab6.minibatches": 2.0,
    "lab6.train_epoch": 2.5,
    "lab6.evaluate": 1.5,
    "lab6.fit": 3.0,
    "lab6.train_affine": 1.5,
    "lab6.train_sine": 2.0,
    "lab6.train_xor": 1.5,
}


# The tasks declare their own time budgets (20-30 s); the other exercises need far less than
# the generous limits, which only guard against a busy machine cutting a check short.
LAB = Lab("lab6_training", FULL, settings=GENEROUS)


# -- the solution's lines that the bugs replace ---------------------------------------------
SGD_MOMENTUM = """                    if self.buffers[i] is None:
                        self.buffers[i] = g.clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(g)"""


SGD_DECAY = """                if self.weight_decay != 0:
                    g = g.add(p, alpha=self.weight_decay)
"""


SGD_ZERO_GRAD = """                p.add_(g, alpha=-self.lr)
        ### END SOLUTION

    def zero_grad(self) -> None:
        \"\"\"Set the gradient of every parameter to None.\"\"\"
        ### BEGIN SOLUTION
        for p in self.params:
            p.grad = None"""


ADAM_CORRECTION = """                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)"""


EPOCH_STEP = """        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()"""


EVALUATE_BODY = """    with torch.no_grad():
        for xb, yb in batches:
            total += loss_fn(model(xb), yb).item()
            count += 1"""


# name -> the replacements in the solution, {exercise: expected score}, expected status, words
#         the exercise's message must contain. Each bug is graded on its exercise only.
BUGS: dict[str, Bug] = {
    # -- SGD: plain 0.5 (+ zero_grad), momentum 1, decay 0.5, both 1, changing lr 0.5
    #    (+ zero_grad), hidden 0.5 and 0.5 (gradients written into the same .grad): 4.5
    #    weights for 3 points
    "SGD momentum with dampening": Bug(
        [
            (
                SGD_MOMENTUM,
                SGD_MOMENTUM.replace("g.clone()", "(1 - self.momentum) * g").replace(
                    ".add_(g)", ".add_(g, alpha=1 - self.momentum)"
                ),
            )
        ],
        {"lab6.SGD": 0.666667},
        "failed",
        ["momentum=0.9", "after step 1 of 10", "no dampening"],
    ),
    "SGD forgetting weight decay": Bug(
        [(SGD_DECAY, "")],
        {"lab6.SGD": 1.666667},
        "failed",
        ["weight_decay=0.01", "weight_decay is ignored"],
    ),
    "SGD momentum buffer reset every step": Bug(
        [(SGD_MOMENTUM, SGD_MOMENTUM.replace("if self.buffers[i] is None:", "if True:"))],
        {"lab6.SGD": 0.666667},
        "failed",
        ["momentum=0.9", "must live from one step to the next"],
    ),
    "SGD momentum buffer that is p.grad itself": Bug(
        [(SGD_MOMENTUM, SGD_MOMENTUM.replace("g.clone()", "g"))],
        {"lab6.SGD": 2.666667},
        "failed",
        ["same .grad tensors", "after step 2 of 6", "the momentum buffer must be a copy"],
    ),
    "SGD zero_grad rebinding a local name": Bug(
        [
            (
                SGD_ZERO_GRAD,
                SGD_ZERO_GRAD.replace(
                    "        for p in self.params:\n            p.grad = None",
                    "        for grad in [p.grad for p in self.params]:\n            grad = None",
                ),
            )
        ],
        {"lab6.SGD": 2.333333},
        "failed",
        [
            "after zero_grad() a parameter still has a non-zero .grad",
            "zero_grad() sets every p.grad",
        ],
    ),
    "SGD reading the learning rate once": Bug(
        [
            (
                "        self.lr = lr\n        self.momentum",
                "        self.lr = self.lr0 = lr\n        self.momentum",
            ),
            ("p.add_(g, alpha=-self.lr)", "p.add_(g, alpha=-self.lr0)"),
        ],
        {"lab6.SGD": 2.666667},
        "failed",
        ["optimizer.lr set to 0.1, 0.05, 0.02, 0.01", "must read self.lr each time"],
    ),
    # -- Adam: betas 0 0.5 (+ zero_grad), defaults 1, betas 1, eps and skipping 1, changing lr
    #    0.5 (+ zero_grad), hidden 1: 5 weights for 3 points
    "Adam without bias correction": Bug(
        [(ADAM_CORRECTION, "                m_hat = m\n                v_hat = v")],
        {"lab6.Adam": 0.3},
        "failed",
        ["Adam(params) in float32", "divide by the bias corrections"],
    ),
    "Adam with eps inside the square root": Bug(
        [("(v_hat.sqrt() + self.eps)", "(v_hat + self.eps).sqrt()")],
        {"lab6.Adam": 1.8},
        "failed",
        ["eps=0.1", "not sqrt(v_hat + eps)"],
    ),
    # -- minibatches: 10 by 4 1, natural order 0.5, 12 by 4 0.5, hidden 1: 3 weights, 2 points
    "minibatches dropping the last batch": Bug(
        [("range(0, n, batch_size)", "range(0, n - batch_size + 1, batch_size)")],
        {"lab6.minibatches": 0.333333},
        "failed",
        ["should be a list of 3 items, but it is a list of 2", "keep the last, smaller batch"],
    ),
    "minibatches ignoring the generator": Bug(
        [
            (
                "torch.randperm(n, generator=generator) if shuffle",
                "torch.randperm(n) if shuffle",
            )
        ],
        {"lab6.minibatches": 0.333333},
        "failed",
        ["generator=a torch.Generator seeded with", "with the generator given"],
    ),
    # -- train_epoch: the weights 1, weights and mean loss 1, hidden 0.5: 1 point per weight
    "train_epoch without zero_grad": Bug(
        [(EPOCH_STEP, EPOCH_STEP.replace("        optimizer.zero_grad()\n", ""))],
        {"lab6.train_epoch": 0.0},
        "failed",
        ["after step 2 of 4", "missing optimizer.zero_grad()"],
    ),
    "train_epoch stepping before backward": Bug(
        [
            (
                EPOCH_STEP,
                EPOCH_STEP.replace(
                    "        loss.backward()\n        optimizer.step()",
                    "        optimizer.step()\n        loss.backward()",
                ),
            )
        ],
        {"lab6.train_epoch": 0.0},
        "failed",
        ["after step 1 of 4", "optimizer.step() before loss.backward()"],
    ),
    "train_epoch returning a tensor": Bug(
        [("        total += loss.item()\n", "        total += loss\n")],
        {"lab6.train_epoch": 1.0},
        "failed",
        ["cross-entropy and Adam", "a tensor (use .item())"],
    ),
    "train_epoch summing the batch losses": Bug(
        [
            (
                "        total += loss.item()\n        count += 1\n    return total / count",
                "        total += loss.item()\n        count += 1\n    return total",
            )
        ],
        {"lab6.train_epoch": 1.0},
        "failed",
        ["5 times the expected", "mean of loss.item() over the batches"],
    ),
    "train_epoch without model.train()": Bug(
        [("    model.train()\n    total, count = 0.0, 0\n", "    total, count = 0.0, 0\n")],
        {"lab6.train_epoch": 1.5},
        "failed",
        ["the model ran in the wrong mode", "call model.train() first"],
    ),
    # -- evaluate: the mean loss 1, eval mode without gradients 1, hidden 1: 0.5 point each
    "evaluate without model.eval()": Bug(
        [("    model.eval()\n    total, count = 0.0, 0\n", "    total, count = 0.0, 0\n")],
        {"lab6.evaluate": 0.5},
        "failed",
        ["cross-entropy in evaluation mode", "call model.eval() first"],
    ),
    # -- fit: triggering 1, never triggering 1, hidden triggering 1, hidden ties 0.5: 3.5
    #    weights for 3 points
    "fit not restoring the best weights": Bug(
        [("    if best_state is not None:\n        model.load_state_dict(best_state)\n", "")],
        {"lab6.fit": 1.285714},
        "failed",
        ["when it returned, the weights", "load the best weights back"],
    ),
    "fit with patience off by one": Bug(
        [("if waited >= patience:", "if waited > patience:")],
        {"lab6.fit": 0.857143},
        "failed",
        ["optimizer.step() ran 21 times; expected 18", "not one epoch later"],
    ),
    "fit validating on the training batches": Bug(
        [
            (
                "val_loss = evaluate(model, val, loss_fn)",
                "val_loss = evaluate(model, train, loss_fn)",
            )
        ],
        {"lab6.fit": 0.0},
        "error",
        ["evaluate was given train as its argument 2, where it takes val"],
    ),
    # -- tasks
    "train_affine without standardising the inputs": Bug(
        # Inputs up to 100 make lr 0.1 far too large: the weights overflow to NaN in either dtype.
        [("    X_std = (X - mean_x) / std_x\n", "    X_std = X\n")],
        {"lab6.train_affine": 0.0},
        "failed",
        ["NaN or infinity", "did training diverge?", "standardise X and Y"],
    ),
    "train_sine trained with torch.optim.Adam": Bug(
        [
            (
                "optimizer = Adam(model.parameters(), lr=lr)",
                "optimizer = torch.optim.Adam(model.parameters(), lr=lr)",
            )
        ],
        {"lab6.train_sine": 0.0},
        "forbidden",
        ["called in train_sine", "your own optimisers"],
    ),
}
