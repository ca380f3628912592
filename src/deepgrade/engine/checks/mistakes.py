"""Known mistakes: grader-side functions that make one common error, replayed so that a
recognised wrong answer earns its specific hint."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from deepgrade.engine.checks.context import CheckContext, Harness
from deepgrade.errors import DeepgradeError
from deepgrade.model.spec import register_check as register_check


class Mistake(BaseModel):
    """A common wrong answer: a grader-side function that makes it, and the hint it earns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str = Field(description="lab:<name>, called like the check's reference.")
    hint: str


class KnownMistake(Protocol):
    """A replayable wrong answer: what ``recognise`` needs of a check's declared mistakes."""

    @property
    def reference(self) -> str: ...

    @property
    def hint(self) -> str: ...


def recognise(
    ctx: CheckContext,
    mistakes: Sequence[KnownMistake],
    got: Any,
    replay: Harness,
    payload: Any,
    matches: Callable[[Any, Any], bool],
) -> str | None:
    """The hint of the first mistake whose result (``replay`` on ``payload``) ``matches`` got."""
    for mistake in mistakes:
        try:
            wrong = ctx.run_reference(mistake.reference, replay, payload)
        except DeepgradeError:  # a recording that lacks this call is the grader's bug
            raise
        except Exception:  # a mistake that cannot be replayed on this input says nothing
            continue
        if matches(wrong, got):
            return mistake.hint
    return None
