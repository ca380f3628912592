# Python the grader must never run: it leaves a mark and ends the grader's own process.
import os
from pathlib import Path

Path("@ROOT@/ATTACK_own_checks_ran").write_text("the grader imported a submission's references.py")
os._exit(3)


def anything_goes(result, args, kwargs):
    return None
