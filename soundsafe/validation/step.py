"""The ``validate`` step: nothing downstream runs on data that fails it."""

from __future__ import annotations

from soundsafe.manifest import MANIFEST_NAME
from soundsafe.steps.context import StepContext
from soundsafe.validation.core import validate_corpus

__all__ = ["run"]


def run(ctx: StepContext) -> dict[str, float]:
    report_dir = ctx.path(ctx.step.reports[0]).parent
    _, metrics = validate_corpus(ctx.path(ctx.step.deps[0]) / MANIFEST_NAME, ctx.params["validate"], report_dir,
                                 validated_dir=ctx.path(ctx.step.outs[0]))
    return metrics
