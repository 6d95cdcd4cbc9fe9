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
                                limit=settings.max_clips or None, start=settings.clip_start,
                                record=settings.record, seed=settings.seed)
    params = load_params(ctx.root / "params.yaml")
    full = {phase: resolve_section(params, phase, "full") for phase in PHASES}
    batches = {p: (int(ctx.params[p].get("batch", 8)), int(full[p].get("batch", 8))) for p in PHASES}
    full_steps = {p: int(full[p]["steps"]) for p in PHASES}
    phase_metrics = {p: json.loads(ctx.path(f"reports/watermark/{p}/metrics.json").read_text()) for p in PHASES
                     if ctx.path(f"reports/watermark/{p}/metrics.json").is_file()}
    training = training_cost(phase_metrics, {p: get_step(p).hardware for p in PHASES})

    def log(folder):  # the whole report folder, figures included, on the step's MLflow run
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != "metrics.json":
                ctx.run.log_artifact(path, artifact_path=str(path.parent.relative_to(folder.parent)))

    model = ctx.path("models/watermark/realtime/model.pt")
    metrics, summary = evaluate_to(ctx.path("reports/evaluate"), clips, settings, model=str(model),
                                   training=training, phase_batches=batches, full_steps=full_steps,
                                   log_artifacts=log, phase_metrics=phase_metrics)
    print(summary)
    return metrics
