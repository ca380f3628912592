"""PrairieLearn's external-grader entry point: ``python -m deepgrade.platforms.prairielearn``.

PrairieLearn copies the question's ``tests/`` folder to ``/grade/tests`` and the student's files
to ``/grade/student``, runs the entry point in the question's image and reads
``/grade/results/results.json`` (its "External Grading" page): ``gradable``, ``score`` in
[0, 1], ``message``, ``output`` and ``tests`` with ``name``, ``points``, ``max_points``,
``message`` and ``output``; an upload that cannot be graded is ``gradable: false`` with its
``format_errors``, which costs the student no attempt. ``GRADE_ROOT`` replaces ``/grade``, so
that tests run it anywhere.
"""

from __future__ import annotations

from typing import Any

from deepgrade.platforms.hosted import (
    Graded,
    close_to_workers,
    grade_upload,
    lines,
    read_config,
    root_from,
    run_entry_point,
    summary,
    write_json,
)

ROOT_VARIABLE = "GRADE_ROOT"
DEFAULT_ROOT = "/grade"


def results(graded: Graded) -> dict[str, Any]:
    """PrairieLearn's results.json for one graded upload."""
    result = graded.result
    if result is None:
        return {"gradable": False, "format_errors": [graded.problem], "message": summary(graded)}
    tests = [
        {
            "name": line.name,
            "points": line.score,
            "max_points": line.max_score,
            "message": "passed" if line.passed else "failed",
            "output": line.output,
        }
        for line in lines(result)
    ]
    return {
        "gradable": True,
        "score": result.score / result.max_score if result.max_score else 0.0,
        "message": summary(graded),
        "output": "",
        "tests": tests,
    }


def main() -> None:
    root = root_from(ROOT_VARIABLE, DEFAULT_ROOT)
    close_to_workers(root)
    source = root / "tests"
    graded = grade_upload(root / "student", source, read_config(source))
    write_json(root / "results" / "results.json", results(graded))


if __name__ == "__main__":
    run_entry_point(main)
