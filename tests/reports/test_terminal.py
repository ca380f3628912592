"""The terminal's table and explanations: what ``grade check`` and check cells print."""

from __future__ import annotations

import io

from rich.console import Console

from deepgrade.model.results import (
    CheckResult,
    IsolationLevel,
    LabResult,
    Status,
    score_exercise,
)
from deepgrade.reports.terminal import render_result


def _printed(result: LabResult, **options: bool) -> str:
    out = io.StringIO()
    render_result(result, Console(file=out, width=200, no_color=True), **options)
    return out.getvalue()


def _stub(exercise_id: str) -> LabResult:
    message = "not implemented yet (NotImplementedError: Lab 2: implement sigmoid)"
    checks = [
        CheckResult(name=f"check {i}", status=Status.NOT_IMPLEMENTED, weight=1.0, message=message)
        for i in range(5)
    ]
    exercise = score_exercise(exercise_id, 2.0, checks)
    return LabResult(lab="lab2", exercises=[exercise], isolation=IsolationLevel.LIMITS)


def test_an_untouched_exercise_is_one_line_not_one_per_check() -> None:
    printed = _printed(_stub("lab2.sigmoid"))
    assert printed.count("not implemented yet (NotImplementedError: Lab 2: implement") == 1
    assert "check 0" not in printed and "check 4" not in printed


def test_isolation_is_said_only_when_asked() -> None:
    assert _printed(_stub("lab2.sigmoid")).count("isolation: limits-only") == 1
    assert "isolation" not in _printed(_stub("lab2.sigmoid"), show_isolation=False)


def test_points_have_at_most_two_decimals() -> None:
    checks = [
        CheckResult(name=f"c{i}", status=Status.PASSED if i else Status.FAILED, weight=1.0)
        for i in range(3)
    ]
    exercise = score_exercise("lab2.sigmoid", 1.0, checks)
    assert exercise.score == 0.666667  # exact enough for JSON
    printed = _printed(LabResult(lab="lab2", exercises=[exercise]))
    assert "lab2: 0.67 / 1" in printed
    assert "0.67 / 1" in printed.split("lab2: ")[1]
    assert "0.666667" not in printed


def test_checks_that_failed_the_same_way_are_explained_once() -> None:
    error = "NameError: name 'e_neg' is not defined\n  at cell 5, line 9, in forward: y = e_neg"
    checks = [
        CheckResult(name=name, status=Status.ERROR, weight=1.0, message=error)
        for name in ("forward", "backward", "gradcheck")
    ]
    checks.append(CheckResult(name="other", status=Status.FAILED, weight=1.0, message="off by 1"))
    exercise = score_exercise("lab2.sigmoid", 2.0, checks)
    printed = _printed(LabResult(lab="lab2", exercises=[exercise]))
    assert printed.count("NameError") == 1
    assert "forward, backward, gradcheck: NameError" in printed
    assert "other: off by 1" in printed
