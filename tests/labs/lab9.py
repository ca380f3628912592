"""Lab 9's grades as data: the lab, its full marks and its planted bugs (proved by
test_lab9_grades.py)."""

from __future__ import annotations

from tests.helpers import Bug, Lab

FULL = {
    "lab9.scale": 2.0,
}
LAB = Lab("lab9_recurrent", FULL, points=sum(FULL.values()))

# name -> the replacements in the solution, {exercise: expected score}, {exercise: expected
#         status}, words the failing exercise's message must contain
BUGS: dict[str, Bug] = {
    "scale by a fixed 2": Bug(
        [("    return x * factor\n", "    return x * 2.0\n")],
        {"lab9.scale": 1.0},
        {"lab9.scale": "failed"},
        ["use the factor argument"],
    ),
}
