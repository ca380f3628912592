"""Lab 7's grades as data: the lab, its full marks and its planted bugs (see
test_lab7_grades.py, which proves them; other tests reuse them)."""

from __future__ import annotations

from tests.helpers import Bug, Lab

FULL = {"lab7.team": 1.0, "lab7.train_digits": 7.0}


MANUAL = {
    "lab7.figures": 2.0,
    "lab7.q_generalisation": 4.0,
    "lab7.q_capacity": 3.0,
    "lab7.q_limitations": 3.0,
}


# The manual parts (12 points) are not scored by grade check.
LAB = Lab("lab7_report", FULL, points=8.0)


# -- planted bugs ----------------------------------------------------------------------------------
TEAM = '    return ["Ada Example", "Alan Example"]'


TRAIN = "    model, history = fit_mlp(X_train, y_train, hidden=128, epochs=30)\n    model.eval()"


RETURN = "    model.eval()\n    return model, history\n"


TEAM_BUGS = {
    "team as one string": Bug(
        [(TEAM, '    return "Ada Example, Alan Example"')],
        {"lab7.team": 0.0},
        {"lab7.team": "failed"},
        ["returned the string 'Ada Example, Alan Example'", "one string per member"],
    ),
    "team of one": Bug(
        [(TEAM, '    return ["Ada Example"]')],
        {"lab7.team": 0.0},
        {"lab7.team": "failed"},
        ["returned 1 name(s)", "2 or 3 members"],
    ),
    "team of four": Bug(
        [(TEAM, '    return ["Ada Example", "Alan Example", "Grace Example", "Kurt Example"]')],
        {"lab7.team": 0.0},
        {"lab7.team": "failed"},
        ["returned 4 name(s)", "2 or 3 members"],
    ),
    "the same member twice": Bug(
        [(TEAM, '    return ["Ada Example", "ada  example"]')],
        {"lab7.team": 0.0},
        {"lab7.team": "failed"},
        ["the same name appears twice"],
    ),
}


TRAINING_BUGS = {
    # Standardised outside the model, which then sees raw pixels at test time: 0.876 (public)
    # and 0.829 (hidden), no tier; the history is well formed: 1 point of 7.
    "standardised outside the model": Bug(
        [
            (
                TRAIN,
                "    mean, std = X_train.mean(dim=0), X_train.std(dim=0).clamp(min=1.0)\n"
                "    X_train = (X_train - mean) / std\n" + TRAIN,
            )
        ],
        {"lab7.train_digits": 1.0},
        {"lab7.train_digits": "failed"},
        ["test accuracy 0.8", ">= 0.9 earns 50%", "standardise them inside it"],
    ),
    # Rescaled to [0, 1] outside the model: 0.918 and 0.916, the 0.90 tier: 3 + 1 points.
    "rescaled to [0, 1] outside the model": Bug(
        [(TRAIN, TRAIN.replace("fit_mlp(X_train,", "fit_mlp(X_train / 16,"))],
        {"lab7.train_digits": 4.0},
        {"lab7.train_digits": "failed"},
        ["test accuracy 0.91", "keep the pixels raw outside the model"],
    ),
    "std not clamped": Bug(
        [("    std = X.std(dim=0).clamp(min=1.0)", "    std = X.std(dim=0)")],
        {"lab7.train_digits": 0.0},
        {"lab7.train_digits": "failed"},
        ["output contains NaN", "0/0 is NaN", "std clamped"],
    ),
    # Adam rescales accumulated gradients, so the accuracy stays above 0.95 (0.97): the outcome
    # cannot see it (Lab 6's train_epoch check does), and the points are all kept.
    "no zero_grad": Bug(
        [("            optimizer.zero_grad()\n", "")],
        {"lab7.train_digits": 7.0},
        {"lab7.train_digits": "passed"},
    ),
    "history without accuracy": Bug(
        [(RETURN, '    model.eval()\n    return model, {"loss": history["loss"]}\n')],
        {"lab7.train_digits": 6.0},
        {"lab7.train_digits": "failed"},
        ["keys 'loss', 'accuracy'", "one float per epoch"],
    ),
    "returns the model only": Bug(
        [(RETURN, "    model.eval()\n    return model\n")],
        {"lab7.train_digits": 0.0},
        {"lab7.train_digits": "error"},
        ["train_digits returned a DigitsMLP", "a pair (model, history)"],
    ),
    # Public float32 run passes (3 of 4 weight units); the hidden float64 run raises.
    "model left in float32": Bug(
        [(".to(device=X.device, dtype=X.dtype)", ".to(device=X.device)")],
        {"lab7.train_digits": 5.25},
        {"lab7.train_digits": "error"},
        ["[hidden] test accuracy with another seed, in float64", "same dtype"],
    ),
    "far too many epochs": Bug(
        [(TRAIN, TRAIN.replace("epochs=30", "epochs=3000"))],
        {"lab7.train_digits": 0.0},
        {"lab7.train_digits": "timeout"},
        ["train_digits did not finish within the 2 s limit"],
        timeout=2.0,
    ),
    "loads the digits itself": Bug(
        [
            (
                TRAIN,
                "    from sklearn.datasets import load_digits\n\n"
                "    digits = load_digits()\n"
                "    X_train = torch.tensor(digits.data, dtype=X_train.dtype)\n"
                "    y_train = torch.tensor(digits.target)\n" + TRAIN,
            )
        ],
        {"lab7.train_digits": 0.0},
        {"lab7.train_digits": "forbidden"},
        [
            "load_digits (sklearn.datasets.load_digits) called in train_digits",
            "must not load the digits itself",
        ],
    ),
    "a scikit-learn model": Bug(
        [
            (
                TRAIN,
                "    from sklearn.neural_network import MLPClassifier\n\n"
                "    clf = MLPClassifier(hidden_layer_sizes=(128,), random_state=seed)\n"
                "    clf.fit(X_train.numpy(), y_train.numpy())\n"
                "    history = {'loss': clf.loss_curve_, 'accuracy': [1.0] * clf.n_iter_}\n"
                "    model = lambda x: torch.tensor(clf.predict_log_proba(x.numpy()))",
            )
        ],
        {"lab7.train_digits": 0.0},
        {"lab7.train_digits": "forbidden"},
        [
            "MLPClassifier (sklearn.neural_network.MLPClassifier) called in train_digits",
            "nor use a scikit-learn model",
        ],
    ),
}


BUGS = TEAM_BUGS | TRAINING_BUGS
