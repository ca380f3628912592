"""Course staff's workflow: authoring, release, submissions, batch grading and its executors,
the nbgrader gradebook, the course configuration and course grades."""
