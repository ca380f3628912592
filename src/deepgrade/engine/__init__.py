"""Grading one submission: the session, loading submissions, forbidden calls, devices,
comparisons, gradients, symbolic answers, recorded references and the check kinds."""
