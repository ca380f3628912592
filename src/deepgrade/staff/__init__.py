"""Course staff's workflow: authoring, release, submissions, batch grading and its executors,
the nbgrader gradebook, the course configuration and course grades."""

from deepgrade.extras import require_staff

# Every staff module imports this package first: without the staff extra, each of them (and every
# `grade` command but `check`) stops here with what to install, not deep in an import.
require_staff("deepgrade.staff")
