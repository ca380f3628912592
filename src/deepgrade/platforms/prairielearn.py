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
    ExportConfig,
    Graded,
    Platform,
    lines,
    serve,
    summary,
)


def results(graded: Graded, _config: ExportConfig) -> dict[str, Any]:
    """PrairieLearn's results.json for one graded upload (its visibility is all or nothing,
    so the export's configuration changes nothing here)."""
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


PLATFORM = Platform("GRADE_ROOT", "/grade", "student", "tests", results)


if __name__ == "__main__":
    serve(PLATFORM)
