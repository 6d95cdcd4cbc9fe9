"""The five training-phase steps (``core`` → ``variable`` → ``hierarchical`` → ``loss_finetune`` → ``realtime``).

Each reads the ``watermark`` section (the model config) and its own section (a :class:`PhaseSpec`), starts from
the previous phase's ``model.pt`` (``core`` starts fresh), and writes its own ``model.pt`` and metrics; its
MLflow run gets the training curve and the validation metrics. A crash mid-phase resumes from
``models/.resume/PHASE/checkpoint.pt`` on the next run with the same inputs.
"""

from __future__ import annotations

from soundsafe.manifest import MANIFEST_NAME
from soundsafe.steps.context import StepContext
from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.train import PhaseSpec, train_phase

__all__ = ["PHASES", "run"]

PHASES = ("core", "variable", "hierarchical", "loss_finetune", "realtime")


def run(ctx: StepContext) -> dict[str, float]:
    phase = ctx.step.name
    config = ModelConfig.from_dict(ctx.params["watermark"])
    spec = PhaseSpec.from_params(phase, ctx.params[phase])
    manifest = ctx.path("data/validated") / MANIFEST_NAME
    previous = PHASES[PHASES.index(phase) - 1] if phase != PHASES[0] else None
    init_from = ctx.path(f"models/watermark/{previous}/model.pt") if previous else None
    return train_phase(spec, config, manifest, ctx.path(ctx.step.outs[0]), init_from=init_from,
                       resume_dir=ctx.root / "models" / ".resume" / phase,
                       log=lambda metrics, step: ctx.run.log_metrics(metrics, step=step))
