"""Grader-side code for Lab 7 (the lab report): the digits task and the judges of ``team()``.

The task builders load scikit-learn's bundled 8x8 digits (no download) and make the very
split the notebook makes: stratified, 25% held out, ``random_state=0``. The student's
``train_digits`` receives the training part only; the held-out part stays on the grader's
side, and only the model's outputs on its inputs come back.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any

import torch

# Names that a team list may hold at most / at least.
TEAM_SIZES = (2, 3)
# A full name longer than this is most likely several names, or a sentence, in one string.
LONGEST_NAME = 100


@lru_cache(maxsize=1)
def _split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The notebook's split of the digits, in float64: X_train, y_train, X_test, y_test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    return (
        torch.tensor(X_train, dtype=torch.float64),
        torch.tensor(y_train, dtype=torch.int64),
        torch.tensor(X_test, dtype=torch.float64),
        torch.tensor(y_test, dtype=torch.int64),
    )


def _task(dtype: torch.dtype, extra: list[Any]) -> dict[str, Any]:
    X_train, y_train, X_test, y_test = _split()
    return {
        "train": [X_train.to(dtype), y_train.clone(), *extra],
        "test_inputs": X_test.to(dtype),
        "test_targets": y_test.clone(),
    }


def digits_task(seed: int) -> dict[str, Any]:
    """``train_digits(X_train, y_train)`` in float32, with the student's default seed.

    ``seed`` is the check's seed: 0 calls the function with two arguments (the signature's
    default ``seed=0`` is then part of what is graded); any other value is passed as ``seed``.
    """
    return _task(torch.float32, [] if seed == 0 else [seed])


def digits_task_float64(seed: int) -> dict[str, Any]:
    """``train_digits(X_train, y_train, seed)`` in float64: another dtype and another seed."""
    return _task(torch.float64, [seed])


def _normalised(name: str) -> str:
    """A name compared up to case, accents' composition and repeated spaces."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def team_problem(result: Any, args: list[Any], kwargs: dict[str, Any]) -> str | None:
    """``team()`` returns a list of 2 or 3 non-empty, distinct strings (one full name each).

    The solution's placeholder names are accepted: who is in the team is for the teaching
    assistants to see, not for the grader to guess.
    """
    del args, kwargs
    if isinstance(result, str):
        return f"returned the string {result!r}, not a list with one string per member."
    if not isinstance(result, list):
        return f"returned a {type(result).__name__}; return a list of 2 or 3 strings."
    not_text = [repr(name) for name in result if not isinstance(name, str)]
    if not_text:
        return f"returned {result!r}: {', '.join(not_text)} is not a string (a str per name)."
    if len(result) not in TEAM_SIZES:
        return (
            f"returned {len(result)} name(s) {result!r}; a team has 2 or 3 members, "
            "one string each."
        )
    if any(not name.strip() for name in result):
        return f"returned {result!r}: a name is empty; write the full name of every member."
    if len({_normalised(name) for name in result}) != len(result):
        return f"returned {result!r}: the same name appears twice; each member once."
    return None


def team_names_problem(result: Any, args: list[Any], kwargs: dict[str, Any]) -> str | None:
    """Everything ``team_problem`` asks, and each string is one name: one line, of a sane length."""
    problem = team_problem(result, args, kwargs)
    if problem is not None:
        return problem
    for name in result:
        if any(unicodedata.category(ch).startswith("C") for ch in name):
            return (
                f"the name {name!r} holds a line break or another control character; "
                "one plain name per string."
            )
        if len(name.strip()) > LONGEST_NAME:
            return (
                f"a name of {len(name.strip())} characters is too long; one full name per "
                "string, not several names or a sentence."
            )
        if not any(ch.isalpha() for ch in name):
            return f"the name {name!r} has no letter; write the member's full name."
    return None
