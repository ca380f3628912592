"""Outcome tasks: train under a fixed seed and a time budget, grade what the model achieves.

The grader builds the task's data from a seed (``task`` names a grader-side builder returning
``train``, the arguments of the student's function, and held-out ``test_inputs`` and
``test_targets``). The student's function returns ``(model, history)``; the worker evaluates
the model on the test inputs, and the grader scores the predictions in tiers of credit. The
exercise's ``timeout`` is the budget: a run that exceeds it is stopped and graded ``timeout``.
The history (losses, accuracies) is kept with the result so that reports can plot it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field

from deepgrade.engine.checks.base import CheckOutcome, CheckSpec, register_check
from deepgrade.engine.checks.context import CheckContext, call_with
from deepgrade.model.results import TaskScore, reaches
from deepgrade.sandbox.worker.drivers import outcome as outcome_driver

Metric = Literal["accuracy_logit", "accuracy_argmax", "mse", "relative_error"]
_HIGHER_IS_BETTER = {"accuracy_logit": True, "accuracy_argmax": True}
_NAMES = {
    "accuracy_logit": "test accuracy",
    "accuracy_argmax": "test accuracy",
    "mse": "test MSE",
    "relative_error": "relative error on the test inputs",
}


@register_check
class OutcomeCheck(CheckSpec):
    """A trained model reaches a metric threshold; each tier earns its share of the weight."""

    kind: Literal["outcome"] = "outcome"
    call: str
    task: str = Field(description="lab:<builder>(seed) -> {train, test_inputs, test_targets}.")
    metric: Metric
    tiers: list[tuple[float, float]] = Field(
        description="(threshold, credit) pairs; the best tier reached gives the credit."
    )
    history_keys: list[str] = Field(
        default_factory=list,
        description="History must be a dict of these keys (else a list of losses).",
    )
    history_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of the check's weight earned by a well-formed history, whatever the "
        "metric; the tiers share the rest.",
    )
    history_decreases: list[str] = Field(
        default_factory=list,
        description="History keys (losses) whose last value must be below their first: a "
        "curve that never goes down (all zeros, a constant) is not the training's.",
    )
    history_first: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="History keys and the range their first value lies in: a loss starts near "
        "its untrained value (ln 10 for ten classes), so a curve of sums or of means divided "
        "again is off by a batch size.",
    )
    seed: int = 0

    def run(self, ctx: CheckContext) -> CheckOutcome:
        data = ctx.run_reference(self.task, call_with, ([self.seed], {}))
        payload = {"train": list(data["train"]), "test_inputs": data["test_inputs"]}
        got = ctx.drive(outcome_driver, self.call, payload)
        if not isinstance(got, dict):
            return self.failed(f"{self.call} could not be run.", explained=False)
        score, problem = self._score(got.get("predictions"), data["test_targets"])
        if problem:
            return self.failed(f"{self.call}: {problem}")
        name = _NAMES[self.metric]
        series, history_problem = self._history(got.get("history"))
        # The history and the metric earn separate shares: a good curve counts even when the
        # metric reaches no tier, and a malformed one costs its share whatever the metric.
        tier = self._credit(score)
        higher = _HIGHER_IS_BETTER.get(self.metric, False)
        task = TaskScore(
            name=name, value=score, higher_is_better=higher, tiers=self.tiers, credit=tier
        )
        message = f"{name} {score:.4g} ({task.tiers_text()})."
        if tier >= 1 and not history_problem:
            return CheckOutcome(True, message, series=series, task=task)
        credit = (1 - self.history_share) * tier + (0 if history_problem else self.history_share)
        if history_problem:
            message += f" {history_problem}"
        failed = self.failed(message).message
        return CheckOutcome(False, failed, credit=credit, series=series, task=task)

    def _score(self, predictions: Any, targets: torch.Tensor) -> tuple[float, str | None]:
        if not isinstance(predictions, torch.Tensor) or not predictions.is_floating_point():
            return math.nan, "the model's output on the test inputs is not a float tensor."
        n = targets.shape[0]
        if predictions.shape[0] != n:
            return math.nan, (
                f"the model returned {predictions.shape[0]} rows for {n} test inputs "
                f"(output shape {list(predictions.shape)})."
            )
        out = predictions.detach().to(torch.float64)
        if not bool(torch.isfinite(out).all()):
            return math.nan, "the model's output contains NaN or infinity (did training diverge?)."
        if self.metric == "accuracy_argmax":
            return float((out.reshape(n, -1).argmax(1) == targets).double().mean()), None
        if self.metric == "accuracy_logit":
            labels = targets.reshape(n, -1).to(torch.float64)
            if out.reshape(n, -1).shape != labels.shape:
                return (
                    math.nan,
                    f"the output has shape {list(out.shape)}; expected one logit a row.",
                )
            return float(((out.reshape(n, -1) > 0).double() == labels).double().mean()), None
        target = targets.to(torch.float64)
        if out.numel() != target.numel():
            return math.nan, (
                f"the output has shape {list(out.shape)}, expected {list(target.shape)}."
            )
        diff = out.reshape(target.shape) - target
        if self.metric == "mse":
            return float((diff**2).mean()), None
        return float(diff.norm() / target.norm()), None

    def _credit(self, score: float) -> float:
        higher = _HIGHER_IS_BETTER.get(self.metric, False)
        reached = [c for t, c in self.tiers if reaches(score, t, higher_is_better=higher)]
        return max(reached, default=0.0)

    def _history(self, history: Any) -> tuple[dict[str, list[float]], str | None]:
        if self.history_keys:
            if not isinstance(history, dict) or set(self.history_keys) - set(history):
                keys = ", ".join(repr(k) for k in self.history_keys)
                return {}, f"The history must be a dict with the keys {keys}, one value an epoch."
            curves = {key: history[key] for key in self.history_keys}
        else:
            curves = {"loss": history}
        series: dict[str, list[float]] = {}
        for key, curve in curves.items():
            if (
                not isinstance(curve, list)
                or not curve
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in curve)
            ):
                return series, f"The history's {key!r} must be a non-empty list of numbers."
            values = [float(v) for v in curve]
            # A diverged training's NaN or infinite losses are no curve to plot, and the JSON
            # that carries results between processes has no number for them (they came back
            # as null and failed the result's validation, ending a batch or an audit).
            if all(math.isfinite(v) for v in values):
                series[key] = values
        for key in self.history_decreases:
            curve = series.get(key, [])
            # One epoch has no trend to show: only a longer curve must go down.
            if len(curve) > 1 and not curve[-1] < curve[0]:
                return series, (
                    f"The history's {key!r} does not go down from its first value to its last: "
                    "record the loss of each epoch as training computes it."
                )
        for key, (low, high) in self.history_first.items():
            first = series[key][0] if series.get(key) else math.nan
            if not low <= first <= high:
                return series, (
                    f"The history's first {key!r} is {first:.4g}, not between {low:g} and "
                    f"{high:g}: record each epoch's mean {key} over its examples."
                )
        return series, None
