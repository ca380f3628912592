"""Lab 10's grades as data: the lab, its full marks and its planted bugs (proved by
test_lab10_grades.py)."""

from __future__ import annotations

from tests.helpers import Bug, Lab

FULL = {
    "lab10.scale": 2.0,
}
LAB = Lab("lab10_attention", FULL, points=sum(FULL.values()))

# name -> the replacements in the solution, {exercise: expected score}, {exercise: expected
#         status}, words the failing exercise's message must contain
BUGS: dict[str, Bug] = {
    "scale by a fixed 2": Bug(
        [("    return x * factor\n", "    return x * 2.0\n")],
        {"lab10.scale": 1.0},
        {"lab10.scale": "failed"},
        ["use the factor argument"],
    ),
}
