"""Generate the bundled synthetic class: an nbgrader course of invented students with planted,
realistic mistakes, for trying ``grade batch``, ``--gradebook`` and ``grade grades`` end to end.

Every submission comes from the course's own solution source (``solutions/<lab>/<lab>.py``):
the solution regions are edited the way students get them wrong, converted with
``deepgrade.staff.authoring.to_notebook``, and written into the answer cells of the notebook that
``deepgrade.staff.release`` (nbgrader's generate_assignment) gives students, so that each submission
keeps nbgrader's locked test cells and metadata. Everything is drawn from one seed, so
regenerating gives the committed files byte for byte.

    python examples/make_class.py            # writes examples/class
    python examples/make_class.py --out DIR  # somewhere else
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import tempfile
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from rich.console import Console

from deepgrade.staff.authoring import BEGIN, END, stub_source, to_notebook
from deepgrade.staff.release import release_lab

ROOT = Path(__file__).resolve().parents[1]
SEED = 2025
RELEASED = date(2025, 9, 1)
LAB2 = "lab2_activations"
LAB7 = "lab7_report"
LAB2_POINTS = 20.0
MANUAL_PARTS = {"figures": 2.0, "q_generalisation": 4.0, "q_capacity": 3.0, "q_limitations": 3.0}
EMAIL_DOMAIN = "students.example.edu"
# 28 students: 8 teams of three and 2 of two for the lab report.
TEAM_SIZES = (3, 3, 3, 3, 3, 3, 3, 3, 2, 2)

# Invented names, combined at random: any resemblance to a real person is a coincidence.
FIRST_NAMES = (
    "Amira", "Bastien", "Chloé", "Dario", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Kenza", "Lucas", "Maëlle", "Nils", "Oona", "Pablo", "Quentin", "Rosa", "Sami", "Tessa",
    "Ugo", "Valentina", "Wen", "Yanis", "Zoé", "Anouk", "Bilal", "Clara", "Dimitri", "Emma",
)  # fmt: skip
LAST_NAMES = (
    "Arnaud", "Benali", "Castell", "Dufresne", "Eriksen", "Ferreira", "Gauthier", "Haddad",
    "Iversen", "Jacquet", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petit",
    "Quiroga", "Rinaldi", "Schäfer", "Tran", "Urquhart", "Vasseur", "Weber", "Xu", "Yilmaz",
    "Zanetti", "Aubert", "Brunet", "Colin", "Delmas",
)  # fmt: skip


# -- the mistakes ------------------------------------------------------------------------------
Edit = Callable[[str, str], str]  # (solution source, stub source) -> edited solution source


@dataclass(frozen=True)
class Mistake:
    """One way of getting a Lab 2 exercise wrong, and the points it costs there (measured by
    grading it on its own; the tests grade a few students to keep these honest)."""

    key: str
    exercises: tuple[str, ...]
    what: str
    edit: Edit
    lost: float


def _replace(*pairs: tuple[str, str]) -> Edit:
    """Exact text replacements, each of which must match once."""

    def edit(source: str, _stub: str) -> str:
        for old, new in pairs:
            if source.count(old) != 1:
                raise click.ClickException(f"the solution changed: {old!r} no longer matches once")
            source = source.replace(old, new)
        return source

    return edit


def _cells(source: str) -> list[str]:
    return re.split(r"(?m)^(?=# %%)", source)


def _left_as_stub(*starts: str) -> Edit:
    """The cells beginning with ``starts`` (their ``# %%`` line included) as released: the
    student never wrote them."""

    def edit(source: str, stub: str) -> str:
        mine, released = _cells(source), _cells(stub)
        for start in starts:
            hits = [i for i, cell in enumerate(mine) if cell.startswith(start)]
            if len(hits) != 1:
                raise click.ClickException(f"the solution changed: no single cell starts {start!r}")
            mine[hits[0]] = released[hits[0]]
        return "".join(mine)

    return edit


SIGMOID_FORWARD = """        e = torch.exp(-x.abs())
        y = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
"""

# Ordinary mistakes, drawn at random (at most one per exercise and student).
ORDINARY = (
    Mistake(
        "sigmoid_overflow",
        ("lab2.sigmoid",),
        "sigmoid as exp(x) / (1 + exp(x)): nan at x = -1e4",
        _replace((SIGMOID_FORWARD, "        y = torch.exp(x) / (1 + torch.exp(x))\n")),
        0.5,
    ),
    Mistake(
        "sigmoid_grad_output",
        ("lab2.sigmoid",),
        "backward returns y (1 - y), forgetting grad_output",
        _replace(("return grad_output * y * (1 - y)", "return y * (1 - y)")),
        1.0,
    ),
    Mistake(
        "tanh_one_minus_y",
        ("lab2.tanh",),
        "tanh backward as 1 - tanh instead of 1 - tanh^2",
        _replace(("return grad_output * (1 - y * y)", "return grad_output * (1 - y)")),
        1.25,
    ),
    Mistake(
        "relu_kink",
        ("lab2.relu",),
        "ReLU'(0) = 1 (x >= 0 in backward)",
        _replace(("torch.where(x > 0, grad_output, 0.0)", "torch.where(x >= 0, grad_output, 0.0)")),
        0.5,
    ),
    Mistake(
        "leaky_slope",
        ("lab2.leaky_relu",),
        "leaky ReLU with the slope hard-coded to 0.01",
        _replace(
            ("torch.where(x > 0, x, negative_slope * x)", "torch.where(x > 0, x, 0.01 * x)"),
            ("ctx.negative_slope * grad_output", "0.01 * grad_output"),
        ),
        0.9375,
    ),
    Mistake(
        "elu_alpha",
        ("lab2.elu",),
        "ELU ignoring alpha (right for alpha = 1 only)",
        _replace(
            ("alpha * torch.expm1(x.clamp(max=0))", "torch.expm1(x.clamp(max=0))"),
            ("slope = ctx.alpha * torch.exp(", "slope = torch.exp("),
        ),
        0.75,
    ),
    Mistake(
        "softplus_unstable",
        ("lab2.softplus",),
        "softplus as log(1 + exp(x)): inf at x = 1e4",
        _replace(
            (
                "y = x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))",
                "y = torch.log(1 + torch.exp(x))",
            )
        ),
        0.5,
    ),
    Mistake(
        "heaviside_zero",
        ("lab2.heaviside",),
        "heaviside(0) = 0 (x > 0 instead of x >= 0)",
        _replace(("return (x >= 0).to(x.dtype)", "return (x > 0).to(x.dtype)")),
        0.375,
    ),
    Mistake(
        "prelu_no_grad_a",
        ("lab2.prelu",),
        "PReLU backward returns None for the slope a",
        _replace(("return grad_x, grad_a.reshape(a.shape)", "return grad_x, None")),
        1.25,
    ),
    Mistake(
        "softmax_no_shift",
        ("lab2.softmax",),
        "softmax without subtracting the maximum: nan for large logits",
        _replace(("e = torch.exp(x - x.amax(dim=dim, keepdim=True))", "e = torch.exp(x)")),
        0.444444,
    ),
    Mistake(
        "softmax_diagonal",
        ("lab2.softmax",),
        "softmax backward with the Jacobian's diagonal only, g * y (1 - y)",
        _replace(
            (
                "inner = (grad_output * y).sum(dim=ctx.dim, keepdim=True)\n"
                "        return y * (grad_output - inner), None",
                "return grad_output * y * (1 - y), None",
            )
        ),
        0.666667,
    ),
    Mistake(
        "d_sigmoid_sign",
        ("lab2.d_sigmoid",),
        "derivation of the sigmoid as s (1 + s)",
        _replace(("    return s * (1 - s)", "    return s * (1 + s)")),
        1.0,
    ),
    Mistake(
        "d_softplus_itself",
        ("lab2.d_softplus",),
        "derivation of softplus returns log(1 + e^x) itself",
        _replace(("    return 1 / (1 + sympy.exp(-x))", "    return sympy.log(1 + sympy.exp(x))")),
        1.0,
    ),
    Mistake(
        "tanh_overflow",
        ("lab2.tanh",),
        "tanh from its definition (e^x - e^-x) / (e^x + e^-x): nan at x = 1e4",
        _replace(
            (
                "        y = torch.copysign(-torch.expm1(-2 * x.abs()) / (1 + e), x)",
                "        y = (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))",
            )
        ),
        0.5,
    ),
    Mistake(
        "heaviside_bool",
        ("lab2.heaviside",),
        "heaviside returns the boolean tensor x >= 0",
        _replace(("return (x >= 0).to(x.dtype)", "return x >= 0")),
        1.0,
    ),
    Mistake(
        "leaky_backward_relu",
        ("lab2.leaky_relu",),
        "leaky ReLU backward copied from ReLU: no gradient for x <= 0",
        _replace(("ctx.negative_slope * grad_output)", "torch.zeros_like(grad_output))")),
        0.9375,
    ),
    Mistake(
        "softmax_wrong_dim",
        ("lab2.softmax",),
        "softmax always over the last dimension, whatever dim says",
        _replace(
            (
                "        e = torch.exp(x - x.amax(dim=dim, keepdim=True))\n"
                "        y = e / e.sum(dim=dim, keepdim=True)",
                "        e = torch.exp(x - x.amax(dim=-1, keepdim=True))\n"
                "        y = e / e.sum(dim=-1, keepdim=True)",
            ),
            ("        ctx.dim = dim\n", "        ctx.dim = -1\n"),
        ),
        0.444444,
    ),
    Mistake(
        "d_tanh_sign",
        ("lab2.d_tanh",),
        "derivation of tanh as 1 + tanh^2",
        _replace(("return 1 - sympy.tanh(x) ** 2", "return 1 + sympy.tanh(x) ** 2")),
        1.0,
    ),
    Mistake(
        "d_elu_undifferentiated",
        ("lab2.d_elu",),
        "derivation of ELU returns the branch itself, alpha (e^x - 1)",
        _replace(("return alpha * sympy.exp(x)", "return alpha * (sympy.exp(x) - 1)")),
        1.0,
    ),
)

# Mistakes that each appear once or twice in the class, on chosen students.
RARE = {
    m.key: m
    for m in (
        Mistake(
            "sigmoid_forbidden",
            ("lab2.sigmoid",),
            "Sigmoid.forward calls torch.sigmoid (forbidden)",
            _replace((SIGMOID_FORWARD, "        y = torch.sigmoid(x)\n")),
            2.0,
        ),
        Mistake(
            "d_tanh_sympy_diff",
            ("lab2.d_tanh",),
            "d_tanh lets sympy.diff do the derivation (forbidden)",
            _replace(("return 1 - sympy.tanh(x) ** 2", "return sympy.diff(sympy.tanh(x), x)")),
            1.0,
        ),
        Mistake(
            "prelu_untouched",
            ("lab2.prelu",),
            "PReLU left as released (the stub raises NotImplementedError)",
            _left_as_stub("# %%\nclass PReLU(Function):"),
            2.0,
        ),
        Mistake(
            "derivations_untouched",
            ("lab2.d_sigmoid", "lab2.d_tanh", "lab2.d_softplus", "lab2.d_elu"),
            "ran out of time: the four derivations left as released",
            _left_as_stub("# %%\ndef d_sigmoid("),
            4.0,
        ),
        Mistake(
            "elu_syntax_error",
            ("lab2.elu",),
            "a missing parenthesis: the ELU cell does not compile",
            _replace(
                (
                    "torch.where(x > 0, x, alpha * torch.expm1(x.clamp(max=0)))",
                    "torch.where(x > 0, x, alpha * torch.expm1(x.clamp(max=0))",
                )
            ),
            1.5,
        ),
        Mistake(
            "softplus_renamed",
            ("lab2.softplus",),
            "the plain function softplus renamed soft_plus (softplus is missing)",
            _replace(("def softplus(x: torch.Tensor)", "def soft_plus(x: torch.Tensor)")),
            2.0,
        ),
        Mistake(
            "relu_prints",
            ("lab2.relu",),
            "ReLU.forward prints every element it sees (debugging left in)",
            _replace(
                (
                    "        ctx.save_for_backward(x)\n        return torch.where(x < 0, 0.0, x)",
                    "        ctx.save_for_backward(x)\n"
                    "        for value in x.flatten().tolist():\n"
                    '            print("relu input", value)\n'
                    "        return torch.where(x < 0, 0.0, x)",
                )
            ),
            0.0,
        ),
        Mistake(
            "heaviside_hangs",
            ("lab2.heaviside",),
            "Heaviside.forward loops forever (the index is never incremented)",
            _replace(
                (
                    "        return (x >= 0).to(x.dtype)",
                    "        out = torch.empty_like(x).flatten()\n"
                    "        flat = x.flatten()\n"
                    "        i = 0\n"
                    "        while i < flat.numel():\n"
                    "            out[i] = 1.0 if flat[i] >= 0 else 0.0\n"
                    "        return out.reshape(x.shape)",
                )
            ),
            1.0,
        ),
    )
}


# -- two disguised copies, for grade similarity -------------------------------------------------
# One student writes four exercises their own way (correct, and computing exactly what the
# solution computes); two classmates hand in that notebook disguised, one renamed and one
# reordered. Only the cells of those four exercises are disguised: the copied mistakes stay
# word for word, as the tests look for them.
OWN_CELLS = (
    "class Sigmoid(Function):",
    "class Heaviside(Function):",
    "class PReLU(",
    "class Softmax(",
)
PRELU_SLOPE = (
    "        shape = [1] * x.dim()\n        if a.numel() > 1:\n            shape[1] = a.numel()\n"
    "        a_b = a.reshape(shape)\n"
)
OWN_WORK = _replace(
    (
        SIGMOID_FORWARD,
        "        # exp only ever sees -|x|, so neither side overflows\n"
        "        positive = 1 / (1 + torch.exp(-x.clamp(min=0)))\n"
        "        negative = torch.exp(x.clamp(max=0)) / (1 + torch.exp(x.clamp(max=0)))\n"
        "        y = torch.where(x >= 0, positive, negative)\n",
    ),
    (
        "return (x >= 0).to(x.dtype)",
        "return torch.where(x >= 0, torch.ones_like(x), torch.zeros_like(x))",
    ),
    (
        "# %%\nclass PReLU(Function):",
        "# %%\ndef _slope_like(a, x):\n"
        '    """a shaped to broadcast against x: one slope per channel (dimension 1), or one."""\n'
        "    dims = [1] * x.dim()\n"
        "    if a.numel() > 1:\n"
        "        dims[1] = a.numel()\n"
        "    return a.reshape(dims)\n\n\n"
        "class PReLU(Function):",
    ),
    (
        PRELU_SLOPE + "        ctx.save_for_backward(x, a)\n"
        "        return torch.where(x > 0, x, a_b * x)\n",
        "        ctx.save_for_backward(x, a)\n        slope = _slope_like(a, x)\n"
        "        return torch.where(x > 0, x, slope * x)\n",
    ),
    (
        PRELU_SLOPE + "        positive = x > 0\n"
        "        grad_x = torch.where(positive, grad_output, a_b * grad_output)\n"
        "        grad_a_full = torch.where(positive, 0.0, x * grad_output)\n"
        "        if a.numel() > 1:\n"
        "            other_dims = [d for d in range(x.dim()) if d != 1]\n"
        "            grad_a = grad_a_full.sum(dim=other_dims)\n"
        "        else:\n"
        "            grad_a = grad_a_full.sum()\n"
        "        return grad_x, grad_a.reshape(a.shape)\n",
        "        slope = _slope_like(a, x)\n        above = x > 0\n"
        "        grad_x = grad_output * torch.where(above, torch.ones_like(x), slope)\n"
        "        grad_slope = torch.where(above, torch.zeros_like(x), x * grad_output)\n"
        "        if a.numel() > 1:\n"
        "            # sum over every dimension but the channels\n"
        "            grad_slope = grad_slope.sum(dim=[d for d in range(x.dim()) if d != 1])\n"
        "        else:\n"
        "            grad_slope = grad_slope.sum()\n"
        "        return grad_x, grad_slope.reshape(a.shape)\n",
    ),
    (
        "        e = torch.exp(x - x.amax(dim=dim, keepdim=True))\n"
        "        y = e / e.sum(dim=dim, keepdim=True)\n",
        "        shifted = x - x.max(dim=dim, keepdim=True).values\n"
        "        numerators = shifted.exp()\n"
        "        y = numerators / numerators.sum(dim=dim, keepdim=True)\n",
    ),
    (
        "        inner = (grad_output * y).sum(dim=ctx.dim, keepdim=True)\n"
        "        return y * (grad_output - inner), None\n",
        "        weighted = grad_output * y\n"
        "        return weighted - y * weighted.sum(dim=ctx.dim, keepdim=True), None\n",
    ),
)
RENAMES = {
    "positive": "upper", "negative": "lower", "_slope_like": "_expand_a", "slope": "a_view",
    "above": "mask", "grad_slope": "ga", "dims": "view", "shifted": "z", "numerators": "ez",
    "weighted": "gy", "y": "out", "e": "ex",
}  # fmt: skip
COMMENTS = {
    "# exp only ever sees -|x|, so neither side overflows": "# stable: never exp of a big x",
    "# sum over every dimension but the channels": "# reduce all dims except dim 1",
}


def _own_cells(edit: Callable[[str], str]) -> Edit:
    """``edit`` applied to the code of the cells of the four exercises written by hand."""

    def apply(source: str, _stub: str) -> str:
        cells = _cells(source)
        return "".join(edit(c) if any(m in c for m in OWN_CELLS) else c for c in cells)

    return apply


def _renamed(cell: str) -> str:
    """Variables and the helper renamed (never an attribute), comments reworded."""
    for old, new in COMMENTS.items():
        cell = cell.replace(old, new)
    for old, new in RENAMES.items():
        cell = re.sub(rf"(?<![.\w]){old}\b", new, cell)
    return cell


def _reordered(cell: str) -> str:
    """Top-level definitions in the reverse order, indented by two spaces, operators tight."""
    head, body = cell.split("\n", 1)
    chunks = re.split(r"\n\n\n(?=\S)", body.strip("\n"))
    body = "\n\n\n".join(reversed(chunks))
    body = re.sub(r"(?m)^((?:    )+)", lambda m: "  " * (len(m.group(1)) // 4), body)
    body = body.replace(" * ", "*").replace(" / ", "/")
    return f"{head}\n{body}\n\n\n"


DISGUISES: dict[str, Edit] = {"renamed": _own_cells(_renamed), "reordered": _own_cells(_reordered)}


def _plant_copies(work: list[Lab2Work]) -> list[Lab2Work]:
    """The first student (by id) whose mistakes avoid the four exercises writes them by hand;
    the first two others with ordinary work hand in that notebook, disguised. No draw of the
    seed's generator is used, so the rest of the class stays as it was."""
    ordinary = [w for w in work if w.special is None and not set(w.mistakes) & set(RARE.values())]
    own = {"lab2.sigmoid", "lab2.heaviside", "lab2.prelu", "lab2.softmax"}
    source = next(
        w
        for w in ordinary
        if len(w.mistakes) >= 2 and not own & {e for m in w.mistakes for e in m.exercises}
    )
    copiers = [w for w in ordinary if w is not source][: len(DISGUISES)]
    disguise = dict(zip((w.student.id for w in copiers), DISGUISES, strict=True))
    written = replace(source, own_work=True)
    planted = []
    for item in work:
        if item.student.id in disguise:
            how = disguise[item.student.id]
            item = replace(written, student=item.student, copy_of=source.student.id, disguise=how)
        elif item is source:
            item = written
        planted.append(item)
    return planted


# -- the lab report's teams --------------------------------------------------------------------
TEAM_LINE = '    return ["Ada Example", "Alan Example"]'
TRAIN_LINE = "    model, history = fit_mlp(X_train, y_train, hidden=128, epochs=30)"
BLANK_ANSWER = "manual:lab7.q_limitations"


@dataclass(frozen=True)
class TeamMistake:
    """One way a team's report goes wrong, and the autograded points (of 8) it keeps."""

    key: str
    what: str
    edit: Edit
    autograded: float


REPORT_MISTAKES = {
    m.key: m
    for m in (
        TeamMistake("none", "a correct report", _replace(), 8.0),
        TeamMistake(
            "smaller_network",
            "a different but sound choice: 32 hidden units, 20 epochs",
            _replace(
                (TRAIN_LINE, TRAIN_LINE.replace("hidden=128, epochs=30", "hidden=32, epochs=20"))
            ),
            8.0,
        ),
        TeamMistake(
            "too_few_epochs",
            "one epoch of training: the test accuracy stays below the 0.90 tier",
            _replace((TRAIN_LINE, TRAIN_LINE.replace("epochs=30", "epochs=1"))),
            2.0,
        ),
        TeamMistake(
            "rescaled_outside",
            "pixels divided by 16 outside the model: the 0.90 tier only",
            _replace((TRAIN_LINE, TRAIN_LINE.replace("fit_mlp(X_train,", "fit_mlp(X_train / 16,"))),
            5.0,
        ),
        TeamMistake(
            "history_missing",
            "train_digits returns the model without its history",
            _replace(
                (
                    "    model.eval()\n    return model, history\n",
                    "    model.eval()\n    return model\n",
                )
            ),
            1.0,
        ),
        TeamMistake(
            "team_one_string",
            "team() returns the names as one comma-separated string",
            _replace(),  # the names are written by _report_source
            7.0,
        ),
        TeamMistake(
            "blank_answer",
            "the question on limitations left unanswered",
            _left_as_stub(f'# %% [markdown] tags=["{BLANK_ANSWER}"]'),
            8.0,
        ),
    )
}
# One team each, the rest of the class hands in correct reports.
TEAM_PROFILES = (
    "too_few_epochs",
    "history_missing",
    "rescaled_outside",
    "team_one_string",
    "smaller_network",
    "blank_answer",
)


# -- the class ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    """An invented student; ``id`` is the login, the name of their nbgrader folder."""

    id: str
    first_name: str
    last_name: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def email(self) -> str:
        return f"{_ascii(self.first_name)}.{_ascii(self.last_name)}@{EMAIL_DOMAIN}"


@dataclass(frozen=True)
class Lab2Work:
    """What a student hands in for Lab 2: their mistakes, or a special case
    (``never_started``: the released notebook; ``truncated``: a file cut short)."""

    student: Person
    mistakes: tuple[Mistake, ...] = ()
    special: str | None = None
    # The four exercises written by hand (OWN_WORK); a copy of whose notebook, disguised how.
    own_work: bool = False
    copy_of: str | None = None
    disguise: str | None = None

    @property
    def expected(self) -> float | None:
        """The Lab 2 score the grader gives, out of 20 (None: the file cannot be read)."""
        if self.special == "truncated":
            return None
        if self.special == "never_started":
            return 0.0
        return round(LAB2_POINTS - sum(m.lost for m in self.mistakes), 6)


@dataclass(frozen=True)
class Team:
    """A lab-report team; the first member hands in the notebook."""

    id: str
    members: tuple[Person, ...]
    mistake: TeamMistake
    manual: dict[str, float] = field(default_factory=dict)


# The few students whose Lab 2 shows one of the rare cases, each with how many ordinary
# mistakes come on top.
RARE_PROFILES: tuple[tuple[str, int], ...] = (
    ("never_started", 0),
    ("truncated", 1),
    ("heaviside_hangs", 2),
    ("elu_syntax_error", 4),
    ("softplus_renamed", 3),
    ("relu_prints", 2),
    ("prelu_untouched", 5),
    ("derivations_untouched", 4),
    ("sigmoid_forbidden", 1),
    ("d_tanh_sympy_diff", 2),
)
# How many ordinary mistakes the other students make, drawn with these weights.
ORDINARY_COUNTS = (0, 1, 2, 3, 4, 5, 6, 7, 8)
ORDINARY_WEIGHTS = (1, 2, 3, 4, 5, 4, 3, 2, 1)


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", "")


def _people(rng: random.Random) -> list[Person]:
    count = sum(TEAM_SIZES)
    firsts, lasts = rng.sample(FIRST_NAMES, count), rng.sample(LAST_NAMES, count)
    people = [
        Person(f"{_ascii(f[0])}{_ascii(last)}", f, last)
        for f, last in zip(firsts, lasts, strict=True)
    ]
    return sorted(people, key=lambda p: p.id)


def _ordinary(rng: random.Random, count: int, taken: set[str]) -> tuple[Mistake, ...]:
    """``count`` ordinary mistakes in distinct exercises, none of them in ``taken``."""
    chosen: list[Mistake] = []
    for mistake in rng.sample(ORDINARY, len(ORDINARY)):
        if len(chosen) == count:
            break
        if taken.isdisjoint(mistake.exercises):
            chosen.append(mistake)
            taken = taken | set(mistake.exercises)
    return tuple(sorted(chosen, key=lambda m: m.key))


def _lab2_work(rng: random.Random, people: list[Person]) -> list[Lab2Work]:
    order = rng.sample(people, len(people))
    work: list[Lab2Work] = []
    for person, (case, extra) in zip(order, RARE_PROFILES, strict=False):
        if case in RARE:
            rare = RARE[case]
            work.append(Lab2Work(person, (rare, *_ordinary(rng, extra, set(rare.exercises)))))
        else:
            work.append(Lab2Work(person, _ordinary(rng, extra, set()), special=case))
    for person in order[len(RARE_PROFILES) :]:
        count = rng.choices(ORDINARY_COUNTS, ORDINARY_WEIGHTS)[0]
        work.append(Lab2Work(person, _ordinary(rng, count, set())))
    return sorted(work, key=lambda w: w.student.id)


def _teams(rng: random.Random, people: list[Person]) -> list[Team]:
    order = rng.sample(people, len(people))
    profiles = list(TEAM_PROFILES) + ["none"] * (len(TEAM_SIZES) - len(TEAM_PROFILES))
    rng.shuffle(profiles)
    teams: list[Team] = []
    start = 0
    for number, (size, profile) in enumerate(zip(TEAM_SIZES, profiles, strict=True), start=1):
        members = tuple(order[start : start + size])
        start += size
        mistake = REPORT_MISTAKES[profile]
        teams.append(Team(f"team{number:02d}", members, mistake, _manual_scores(rng, mistake)))
    return teams


def _manual_scores(rng: random.Random, mistake: TeamMistake) -> dict[str, float]:
    """What the teaching assistants gave each hand-graded part, in half points."""
    scores = {}
    for part, points in MANUAL_PARTS.items():
        low = points / 2 if part != "figures" else 1.0
        halves = int(2 * low), int(2 * points)
        scores[part] = rng.randint(*halves) / 2
    if mistake.key == "history_missing":
        scores["figures"] = 0.0  # the cell plotting the history fails: no figure to grade
    if mistake.key == "blank_answer":
        scores["q_limitations"] = 0.0
    return scores


# -- the files ---------------------------------------------------------------------------------
class _Lab:
    """A lab's solution source, its stub source and its notebook as nbgrader releases it."""

    def __init__(self, root: Path, folder: str) -> None:
        spec = tomllib.loads((root / "autograder" / folder / "lab.toml").read_text("utf-8"))
        self.folder = folder
        self.id = str(spec["id"])
        self.manual = {str(p["id"]): float(p["points"]) for p in spec.get("manual", [])}
        self.source = (root / "solutions" / folder / f"{folder}.py").read_text("utf-8")
        self.stub = stub_source(self.source, f"Lab {self.id.removeprefix('lab')}")
        with tempfile.TemporaryDirectory(prefix="make-class-") as scratch:
            # A fixed day: the class regenerates byte for byte on any day.
            release = release_lab(folder, to=Path(scratch), root=root, released=RELEASED)
            self.released = release.notebook.read_text("utf-8")

    def path(self, student: Person) -> str:
        return f"submitted/{student.id}/{self.folder}/{self.folder}.ipynb"

    def notebook(self, source: str) -> str:
        """The notebook a student hands in: the released one, its answer cells written in.

        ``source`` is the (edited) solution source; a solution cell of it that has no solution
        markers any more was left as released, and keeps nbgrader's stub.
        """
        written = {
            cell["id"]: cell
            for cell in json.loads(to_notebook(source, self.id, self.manual))["cells"]
        }
        notebook = json.loads(self.released)
        for cell in notebook["cells"]:
            if not cell["metadata"].get("nbgrader", {}).get("solution"):
                continue
            text = "".join(written[cell["id"]]["source"])
            if cell["cell_type"] == "code" and BEGIN not in text:
                continue
            lines = [line for line in text.split("\n") if line.strip() not in (BEGIN, END)]
            cell["source"] = "\n".join(lines).splitlines(keepends=True)
        # The layout nbformat writes: one-space indents, sorted keys, text kept as UTF-8.
        return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _lab2_file(lab: _Lab, work: Lab2Work) -> str:
    if work.special == "never_started":
        return lab.released
    source = OWN_WORK(lab.source, lab.stub) if work.own_work else lab.source
    for mistake in work.mistakes:
        source = mistake.edit(source, lab.stub)
    if work.disguise is not None:
        source = DISGUISES[work.disguise](source, lab.stub)
    text = lab.notebook(source)
    if work.special == "truncated":
        # An upload cut short: the notebook's JSON stops in the middle of a cell.
        return text[: len(text) * 3 // 5]
    return text


def _report_file(lab: _Lab, team: Team) -> str:
    names = [member.name for member in team.members]
    written = ", ".join(names) if team.mistake.key == "team_one_string" else names
    source = _replace((TEAM_LINE, f"    return {json.dumps(written, ensure_ascii=False)}"))(
        lab.source, lab.stub
    )
    return lab.notebook(team.mistake.edit(source, lab.stub))


# -- deadlines: when each submission came in (nbgrader's timestamp.txt) ------------------------
TIMEZONE = "Europe/Paris"
# The labs' deadlines, in TIMEZONE, and the late policy of course.toml.
DEADLINES = {LAB2: datetime(2025, 10, 6, 23, 59), LAB7: datetime(2025, 12, 12, 23, 59)}
LATE_POLICY = ("percent = 10", "cap = 50", "cutoff = 7")
# Lab 2 students (by their place in the roster) who hand in this many hours late: 1 day
# started (10 %), 3 days (30 %), after the 7 days' cut-off (0), and one covered by an extension.
LATE_LAB2 = {3: 5.0, 11: 51.0, 22: 220.0, 17: 50.0}
EXTENSION_LAB2 = (17, 3)  # (place in the roster, days)
LATE_TEAMS = {2: 20.0}  # the third team's report: 1 day started (10 %)


def _timestamps(work: list[Lab2Work], teams: list[Team], seed: int) -> dict[str, str]:
    """Each submission's ``timestamp.txt``, as ``nbgrader submit`` writes it (in UTC): most a
    few hours before the deadline, drawn apart from the class so that its draws stay the same."""
    rng = random.Random(seed + 1)
    handed: list[tuple[str, str, float | None]] = [
        (LAB2, w.student.id, LATE_LAB2.get(place)) for place, w in enumerate(work)
    ]
    handed += [(LAB7, t.members[0].id, LATE_TEAMS.get(place)) for place, t in enumerate(teams)]
    stamps = {}
    for folder, student, late in handed:
        deadline = DEADLINES[folder].replace(tzinfo=ZoneInfo(TIMEZONE)).astimezone(UTC)
        hours = late if late is not None else -rng.uniform(0.2, 72.0)
        at = deadline + timedelta(hours=hours, microseconds=rng.randrange(10**6))
        path = f"submitted/{student}/{folder}/timestamp.txt"
        stamps[path] = at.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    return stamps


# -- the later labs: convolutions, recurrent networks, attention ------------------------------
# A few students hand in each later lab, enough to try a batch of it: one finished, one left
# the derivation unwritten (where the lab has one), one never started.
LATER_LABS = ("lab8_convolution", "lab9_recurrent", "lab10_attention")
LATER_SUBMITTED = "2026-01-20 18:00:00.000000 UTC"


def _later_labs(root: Path, people: list[Person]) -> tuple[dict[str, str], dict[str, object]]:
    """The later labs' submissions (and their timestamp.txt), and their answer key."""
    files: dict[str, str] = {}
    key: dict[str, object] = {}
    finished, partial, idle = people[:3]
    for folder in LATER_LABS:
        lab = _Lab(root, folder)
        spec = tomllib.loads((root / "autograder" / folder / "lab.toml").read_text("utf-8"))
        points = {str(e["id"]): float(e["points"]) for e in spec["exercises"]}
        derivations = [e for e in points if e.split(".")[1].startswith("d_")]
        handed = {
            finished: (lab.notebook(lab.source), sum(points.values())),
            idle: (lab.released, 0.0),
        }
        if derivations:
            name = derivations[0].split(".")[1]
            source = _left_as_stub(f"# %%\ndef {name}(")(lab.source, lab.stub)
            handed[partial] = (lab.notebook(source), sum(points.values()) - points[derivations[0]])
        for person, (notebook, _) in handed.items():
            files[lab.path(person)] = notebook
            files[f"submitted/{person.id}/{folder}/timestamp.txt"] = LATER_SUBMITTED
        key[lab.id] = {
            person.id: {"expected_score": score} for person, (_, score) in handed.items()
        }
    return files, key


def _csv(header: tuple[str, ...], rows: Iterable[Sequence[object]]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return stream.getvalue()


def _exam(rng: random.Random, work: list[Lab2Work]) -> str:
    """G2 out of 20 in half points; whoever never started Lab 2 missed the exam too (blank)."""
    rows: list[tuple[object, ...]] = []
    for item in work:
        grade = round(2 * min(max(rng.gauss(12.0, 3.5), 3.0), 19.5)) / 2
        rows.append((item.student.id, "" if item.special == "never_started" else f"{grade:.1f}"))
    return _csv(("id", "grade"), rows)


def _course_toml(teams: list[Team], work: list[Lab2Work]) -> str:
    lines = [
        "# The synthetic class's course configuration (docs/grades.md describes every key).",
        "# Paths are relative to this file. The labs' results are the grade batch output",
        "# folders that these commands, run from the repository's root, write:",
        "#   grade batch examples/class/submitted --lab lab2 --out out/lab2 --course \\",
        "#       examples/class/course.toml",
        "#   grade batch examples/class/submitted --lab lab7 --out out/lab7 --course \\",
        "#       examples/class/course.toml",
        "scale = 20.0",
        'roster = "roster.csv"',
        'exam = "exam.csv"',
        f'timezone = "{TIMEZONE}"',
        "",
        "[teams]",
        *(f"{t.id} = {json.dumps([m.id for m in t.members])}" for t in teams),
        "",
        "[labs]",
        'lab2 = { weight = 0.25, results = "../../out/lab2", '
        f"deadline = {DEADLINES[LAB2]:%Y-%m-%dT%H:%M:%S}, "
        f"extensions = {{ {work[EXTENSION_LAB2[0]].student.id} = {EXTENSION_LAB2[1]} }} }}",
        'lab7 = { weight = 0.75, results = "../../out/lab7", '
        f"deadline = {DEADLINES[LAB7]:%Y-%m-%dT%H:%M:%S} }}",
        "",
        "[late]",
        *LATE_POLICY,
        "",
        "[report]",
        'lab = "lab7"',
        'manual = "report_manual.csv"',
        "",
        "[formula]",
        "g1 = 0.5",
        "g2 = 0.5",
    ]
    return "\n".join(lines) + "\n"


def _planted(work: list[Lab2Work], teams: list[Team], later: dict[str, object]) -> str:
    """The answer key: what was planted where, and the autograded scores it should give."""
    key = {
        "seed": SEED,
        "lab2": {
            w.student.id: {
                "mistakes": [m.key for m in w.mistakes] + ([w.special] if w.special else []),
                "expected_score": w.expected,
            }
            | ({"copy_of": w.copy_of, "disguise": w.disguise} if w.copy_of else {})
            for w in work
        },
        "lab7": {
            t.id: {
                "submitter": t.members[0].id,
                "members": [m.id for m in t.members],
                "mistake": t.mistake.key,
                "expected_autograded": t.mistake.autograded,
                "manual": {f"lab7.{part}": score for part, score in t.manual.items()},
            }
            for t in teams
        },
        # Hours after the deadline (an extension's days move it), by student and by team.
        "late": {
            "lab2": {work[place].student.id: hours for place, hours in LATE_LAB2.items()},
            "lab7": {teams[place].id: hours for place, hours in LATE_TEAMS.items()},
            "extensions": {"lab2": {work[EXTENSION_LAB2[0]].student.id: EXTENSION_LAB2[1]}},
        },
    } | later
    return json.dumps(key, indent=2, ensure_ascii=False) + "\n"


def class_files(root: Path = ROOT, seed: int = SEED) -> dict[str, str]:
    """Every file of the class, by path relative to the class folder."""
    rng = random.Random(seed)
    people = _people(rng)
    work = _plant_copies(_lab2_work(rng, people))
    teams = _teams(rng, people)
    lab2, lab7 = _Lab(root, LAB2), _Lab(root, LAB7)
    files = {lab2.path(w.student): _lab2_file(lab2, w) for w in work}
    files |= {lab7.path(t.members[0]): _report_file(lab7, t) for t in teams}
    roster = [(p.id, p.first_name, p.last_name, p.email) for p in people]
    files["roster.csv"] = _csv(("id", "first_name", "last_name", "email"), roster)
    files["exam.csv"] = _exam(rng, work)
    manual = [(t.id, part, f"{score:g}") for t in teams for part, score in t.manual.items()]
    files["report_manual.csv"] = _csv(("id", "part", "score"), manual)
    files["course.toml"] = _course_toml(teams, work)
    files |= _timestamps(work, teams, seed)
    later, later_key = _later_labs(root, people)
    files |= later
    files["planted.json"] = _planted(work, teams, later_key)
    return dict(sorted(files.items()))


def write_class(out: Path, root: Path = ROOT, seed: int = SEED) -> list[Path]:
    """Write the class into ``out`` and return the paths written. Submissions of an earlier
    run that this one no longer has are removed (nothing else in ``out`` is touched)."""
    files = class_files(root, seed)
    for old in sorted((out / "submitted").rglob("*"), reverse=True):
        if old.is_file() and old.relative_to(out).as_posix() not in files:
            old.unlink()
        elif old.is_dir() and not any(old.iterdir()):
            old.rmdir()
    written = []
    for relative, content in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "examples" / "class",
    show_default=True,
    help="The class folder to (re)write.",
)
@click.option("--seed", type=int, default=SEED, show_default=True, help="Draws the mistakes.")
def main(out: Path, seed: int) -> None:
    """Write the synthetic class: submissions, roster, exam grades, report marks, course."""
    written = write_class(out, seed=seed)
    size = sum(path.stat().st_size for path in written)
    Console().print(f"wrote {len(written)} files ({size / 1024:.0f} KiB) into {out}")


if __name__ == "__main__":
    main()
