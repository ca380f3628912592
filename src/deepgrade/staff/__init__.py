"""Course staff's workflow: authoring, release, submissions, batch grading and its executors,
the nbgrader gradebook, the course configuration and course grades."""

import sys

from deepgrade.extras import require_staff

# Every staff module imports this package first: without the staff extra, each of them (and every
# `grade` command but `check`) stops here with what to install, not deep in an import.
require_staff("deepgrade.staff")

# jsonschema, under nbformat and nbgrader, imports rfc3987_syntax where it is installed (Jupyter
# pulls it in) for its "iri" format checker, and that compiles a grammar on import: 5 s of every
# staff command that reads a notebook or the gradebook, more than a batch of 40 takes to grade.
# Neither nbformat's nor nbgrader's schemas use that format, so staff commands go without it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
