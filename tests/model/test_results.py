"""Each check's share of its exercise's points, and the JSON of ``grade check`` built from it."""

from __future__ import annotations

import pytest

from deepgrade.model.results import (
    CheckResult,
    LabResult,
    Status,
    score_exercise,
    zero_result,
)

CHECK_KEYS = {"name", "passed", "score", "max_score", "hidden", "message"}
EXERCISE_KEYS = {"id", "status", "score", "max_score", "message", "checks"}


def _check(status: Status, weight: float = 1.0, **fields: object) -> CheckResult:
    return CheckResult(name="c", status=status, weight=weight, message="m", **fields)  # type: ignore[arg-type]


def test_each_check_records_its_share_of_the_points() -> None:
    checks = [
        _check(Status.PASSED, 2.0),
        _check(Status.FAILED, 1.0, credit=0.5),
        _check(Status.FAILED, 1.0, hidden=True),
    ]
    exercise = score_exercise("lab2.sigmoid", 2.0, checks)
    assert [(c.score, c.max_score) for c in exercise.checks] == [(1.0, 1.0), (0.25, 0.5), (0, 0.5)]
    assert sum(c.score for c in exercise.checks) == exercise.score == 1.25
    assert sum(c.max_score for c in exercise.checks) == exercise.max_score == 2.0


def test_check_scores_are_exact_not_rounded() -> None:
    exercise = score_exercise("e", 2.0, [_check(Status.PASSED)] + [_check(Status.FAILED)] * 8)
    assert exercise.checks[0].score == exercise.checks[0].max_score == 2.0 / 9
    assert sum(c.max_score for c in exercise.checks) == pytest.approx(2.0, abs=1e-12)


def test_a_crashed_check_leaves_every_check_of_its_exercise_ungraded() -> None:
    exercise = score_exercise("e", 2.0, [_check(Status.PASSED), _check(Status.GRADER_ERROR)])
    assert exercise.status is Status.GRADER_ERROR
    assert [(c.score, c.max_score) for c in exercise.checks] == [(0.0, 1.0), (0.0, 1.0)]


def test_public_dict_has_every_key_of_every_check() -> None:
    exercise = score_exercise(
        "lab2.relu", 2.0, [_check(Status.PASSED), _check(Status.TIMEOUT, hidden=True)]
    )
    data = LabResult(lab="lab2", exercises=[exercise]).public_dict()
    assert set(data) == {"lab", "score", "max_score", "exercises"}
    [entry] = data["exercises"]
    assert set(entry) == EXERCISE_KEYS
    assert entry["checks"] == [
        {"name": "c", "passed": True, "score": 1.0, "max_score": 1.0, "hidden": False,
         "message": "m"},
        {"name": "c", "passed": False, "score": 0.0, "max_score": 1.0, "hidden": True,
         "message": "m"},
    ]  # fmt: skip


def test_an_exercise_without_checks_has_an_empty_list() -> None:
    missing = zero_result("lab2.relu", 2.0, Status.MISSING, "relu is not defined")
    assert missing.public_dict()["checks"] == []
