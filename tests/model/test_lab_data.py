"""Lab data as authors write it: exercise defaults, named mistake sets, judged mistakes,
hidden.toml in lab.toml's syntax, tuples among keyword arguments."""

from __future__ import annotations

import pytest

from deepgrade.errors import SpecError
from deepgrade.model.spec import load_lab
from tests.helpers import ToyCourse

HEAD = """
id = "toy"
title = "Toy"
notebook = "toy.ipynb"
module = "toy.py"
"""

# A judged exercise whose two checks share their fields and their known mistakes.
JUDGED = (
    HEAD
    + """
[mistakes]
pair = [
  { expected = "lab:swapped", hint = "return (sum, difference), in that order." },
  { expected = "lab:halved", hint = "no division by two." },
]

[[exercises]]
id = "toy.pair"
points = 2.0
requires = ["pair"]
defaults = { call = "pair", judge = "lab:same_pair", expected = "lab:pair", mistakes = "pair" }

[[exercises.checks]]
kind = "judge"
name = "sum and difference"
inputs = "lab:numbers"
dtypes = ["float64"]
hint = "the sum first, then the difference."

[[exercises.checks]]
kind = "gradcheck"
name = "a kind without those fields takes none of them"
call = "scale"
args = [{ gen = "randn", shape = [3] }]
"""
)

REFERENCES = """
from deepgrade.engine.labkit import Inputs, Verdict


def numbers(generator, dtype) -> Inputs:
    return [3.0, 1.0], {}


def pair(a, b):
    return (a + b, a - b)


def swapped(a, b):
    return (a - b, a + b)


def halved(a, b):
    return ((a + b) / 2, (a - b) / 2)


def same_pair(result, args, kwargs, *, expected) -> Verdict:
    if tuple(result) != tuple(expected):
        return f"expected {expected}, got {result}"
    return None
"""

SCALE = "\ndef scale(x):\n    return 2 * x\n"


def test_defaults_reach_the_checks_whose_kind_has_the_field(toy_lab: ToyCourse) -> None:
    lab = load_lab(toy_lab.lab(JUDGED, references=REFERENCES))
    judge, gradcheck = lab.exercises[0].checks
    assert judge.model_dump()["call"] == "pair"
    assert judge.model_dump()["mistakes"][1] == {
        "expected": "lab:halved",
        "hint": "no division by two.",
    }
    # The check's own value wins, and fields its kind lacks are left out.
    assert gradcheck.model_dump()["call"] == "scale"
    assert "judge" not in gradcheck.model_dump()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("return (a - b, a + b)", "return (sum, difference), in that order."),
        ("return ((a + b) / 2, (a - b) / 2)", "no division by two."),
        ("return (a * b, a / b)", "the sum first, then the difference."),
    ],
    ids=["swapped", "halved", "unknown"],
)
def test_a_judged_mistake_earns_its_hint_only_when_it_is_the_cause(
    toy_lab: ToyCourse, body: str, words: str
) -> None:
    toy_lab.lab(JUDGED, references=REFERENCES)
    result = toy_lab.grade(f"def pair(a, b):\n    {body}\n" + SCALE)
    message = result.exercises[0].message
    assert result.exercises[0].score == 1.0, message
    assert f"Hint: {words}" in message
    assert message.count("Hint:") == 1


def test_the_solution_passes_and_a_missing_mistake_set_is_named(toy_lab: ToyCourse) -> None:
    toy_lab.lab(JUDGED, references=REFERENCES)
    assert toy_lab.grade("def pair(a, b):\n    return (a + b, a - b)\n" + SCALE).score == 2.0
    folder = toy_lab.lab(JUDGED.replace('mistakes = "pair"', 'mistakes = "pairs"'))
    with pytest.raises(SpecError, match="no mistake set named 'pairs' \\(known: pair\\)"):
        load_lab(folder)


def test_judge_mistakes_need_an_expected_answer(toy_lab: ToyCourse) -> None:
    folder = toy_lab.lab(JUDGED.replace(', expected = "lab:pair"', ""))
    with pytest.raises(SpecError, match="give 'expected'"):
        load_lab(folder)


PLAIN = (
    HEAD
    + """
[[exercises]]
id = "toy.stride"
points = 1.0
requires = ["stride"]

[[exercises.checks]]
kind = "reference"
name = "a tuple keyword argument"
call = "stride"
reference = "lab:stride"
args = [{ gen = "randn", shape = [4] }]
kwargs = { step = [2, 1] }
"""
)

STRIDE = """
def stride(x, step):
    assert isinstance(step, tuple), type(step)
    return x[:: step[0]] * step[1]
"""

HIDDEN = """
[[exercises]]
id = "toy.stride"
defaults = { reference = "lab:stride" }

[[exercises.checks]]
kind = "reference"
name = "another step"
call = "stride"
args = [{ gen = "randn", shape = [6] }]
kwargs = { step = [3, 2] }
"""


def test_arrays_in_kwargs_arrive_as_tuples(toy_lab: ToyCourse) -> None:
    toy_lab.lab(PLAIN, hidden=HIDDEN, references=STRIDE)
    result = toy_lab.grade(STRIDE)
    assert [(e.status.value, e.score) for e in result.exercises] == [("passed", 1.0)]
    assert [c.hidden for c in result.exercises[0].checks] == [False, True]


def test_hidden_checks_are_written_as_in_lab_toml(toy_lab: ToyCourse) -> None:
    lab = load_lab(toy_lab.lab(PLAIN, hidden=HIDDEN, references=STRIDE))
    hidden = lab.exercises[0].checks[1]
    assert hidden.hidden and hidden.model_dump()["reference"] == "lab:stride"
    assert not load_lab(lab.folder, include_hidden=False).exercises[0].checks[-1].hidden


@pytest.mark.parametrize(
    ("hidden", "words"),
    [
        ('[[checks]]\nexercise = "toy.stride"\nkind = "raises"\n', "only exercises and mistakes"),
        ('[[exercises]]\nid = "toy.other"\n', "'toy.other' is not an exercise of lab.toml"),
        ('[[exercises]]\nid = "toy.stride"\npoints = 9\n', "may add checks, not ['points']"),
    ],
    ids=["old-syntax", "unknown-exercise", "not-a-check"],
)
def test_hidden_files_only_add_checks(toy_lab: ToyCourse, hidden: str, words: str) -> None:
    with pytest.raises(SpecError, match=words.replace("[", "\\[").replace("(", "\\(")):
        load_lab(toy_lab.lab(PLAIN, hidden=hidden, references=STRIDE))
