"""``grade audit``: mutation testing of a lab's checks.

:mod:`.mutants` makes mutants of the reference solution, :mod:`.runner` grades them with the
lab's checks, :mod:`.report` shows the result (table, JSON, HTML with each survivor's diff).
"""

from deepgrade.staff.audit.runner import AuditReport, Outcome, run_audit

__all__ = ["AuditReport", "Outcome", "run_audit"]
