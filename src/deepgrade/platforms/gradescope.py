"""Gradescope's autograder entry point: ``python -m deepgrade.platforms.gradescope``.

Gradescope unzips the export into ``/autograder/source``, puts the student's upload in
``/autograder/submission`` and reads ``/autograder/results/results.json`` (its "Autograder
Specifications"): ``score`` (which overrides the tests' sum), ``execution_time`` in seconds,
``output``, ``stdout_visibility`` and one ``tests`` entry per check with ``name``, ``score``,
``max_score``, ``status`` (``passed`` or ``failed``), ``output`` and ``visibility``
(``visible``, ``after_published``, ``after_due_date`` or ``hidden``). ``AUTOGRADER_ROOT``
replaces ``/autograder``, so that tests run it anywhere.
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


def results(graded: Graded, config: ExportConfig) -> dict[str, Any]:
    """Gradescope's results.json for one graded upload."""
    result = graded.result
    tests = [
        {
            "name": line.name,
            "score": line.score,
            "max_score": line.max_score,
            "status": "passed" if line.passed else "failed",
            "output": line.output,
            "visibility": config.hidden_visibility if line.hidden else "visible",
        }
        for line in (lines(result) if result is not None else [])
    ]
    return {
        "score": result.score if result is not None else 0.0,
        "execution_time": round(graded.seconds),
        "output": summary(graded),
        # The grader's own log is for staff: it can name hidden inputs.
        "stdout_visibility": "hidden",
        "tests": tests,
    }


PLATFORM = Platform("AUTOGRADER_ROOT", "/autograder", "submission", "source", results)


if __name__ == "__main__":
    serve(PLATFORM)
