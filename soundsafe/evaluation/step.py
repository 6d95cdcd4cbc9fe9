"""The ``evaluate`` step: the trained model and the echo baselines on the test split, into the report.

Reads the ``evaluate`` section (what to measure) and the phase sections (for the cost projection: their batch
here and their steps and batch at the ``full`` profile), the last phase's model, and every phase's training
metrics; writes ``reports/evaluate/`` (see :mod:`soundsafe.evaluation.run`), logs it to MLflow and prints the
Markdown summary.
"""

from __future__ import annotations

import json

from soundsafe.evaluation.cost import training_cost
from soundsafe.evaluation.harness import clips_from_manifest
from soundsafe.evaluation.run import EvaluationSettings, evaluate_to
from soundsafe.manifest import MANIFEST_NAME
from soundsafe.params import load_params, resolve_section
from soundsafe.steps.context import StepContext
from soundsafe.steps.registry import get_step
from soundsafe.watermark.step import PHASES

__all__ = ["run"]


def run(ctx: StepContext) -> dict[str, float]:
    import torch

    settings = EvaluationSettings.from_params(ctx.params["evaluate"])
    torch.manual_seed(settings.seed)
    clips = clips_from_manifest(ctx.path("data/validated") / MANIFEST_NAME, settings.split, settings.max_seconds,
                                limit=settings.max_clips or None)
    training, batches, full_steps = [], {}, {}
    full = load_params(ctx.root / "params.yaml")
    for phase in PHASES:
        metrics_path = ctx.path(f"reports/watermark/{phase}/metrics.json")
        if metrics_path.is_file():
            training += training_cost({phase: json.loads(metrics_path.read_text())},
                                      {phase: get_step(phase).hardware})
        batches[phase] = (int(ctx.params[phase].get("batch", 8)),
                          int(resolve_section(full, phase, "full").get("batch", 8)))
        full_steps[phase] = int(resolve_section(full, phase, "full")["steps"])

    def log(folder):  # the whole report folder, figures included, on the step's MLflow run
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != "metrics.json":
                ctx.run.log_artifact(path, artifact_path=str(path.parent.relative_to(folder.parent)))

    model = ctx.path("models/watermark/realtime/model.pt")
    metrics, summary = evaluate_to(ctx.path("reports/evaluate"), clips, settings, model=str(model),
                                   training=training, phase_batches=batches, full_steps=full_steps,
                                   log_artifacts=log)
    print(summary)
    return metrics
