"""The attribution steps: ``attribution_train`` (t4) trains generative models on marked and clean music,
``attribution_evaluate`` (cpu) reads the marks in what they make from held-out, never-marked audio.

``models/attribution/``: one ``<model>.pt`` per model (state dict + how it was trained) and ``models.json``, the
table of models. Per architecture (``attribution.kinds``): ``clean_seeds`` models on clean data, one per mark
(``attribution.marks``), and with the pitch-shift augmentation one clean model and one per mark in
``attribution.augmented``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from soundsafe.atomic import atomic_dir, write_text
from soundsafe.attribution.marks import EchoMark, parse_mark
from soundsafe.manifest import MANIFEST_NAME
from soundsafe.params import section_spec
from soundsafe.steps.context import StepContext

__all__ = ["ModelPlan", "TrainSpec", "plan_models", "run_evaluate", "run_train"]

MODELS_CARD = "models.json"


@dataclass(frozen=True)
class TrainSpec:
    """``params.yaml: attribution``."""

    marks: list[str] = field(default_factory=lambda: ["echo50", "echo75", "echo100", "tse100"])
    alpha: float = 0.4  # single echo (Tralie et al.)
    tse_alpha: float = 0.3  # time-spread echo, total over its taps by energy: 0.3/√1024 ≈ 0.009 per tap
    pn_length: int = 1024
    key: int = 2024  # the time-spread sequence's seed
    kinds: list[str] = field(default_factory=lambda: ["ddsp", "vae"])
    clean_seeds: int = 2  # clean-trained models per architecture: the false-attribution reference
    augmented: list[str] = field(default_factory=lambda: ["echo75", "tse100"])
    pitch_semitones: int = 2
    train_tracks: int = 24
    train_seconds: float = 30.0
    steps: dict[str, int] = field(default_factory=lambda: {"ddsp": 150, "vae": 500})
    batch: int = 8
    excerpt_s: float = 1.0
    lr: float = 1e-3

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainSpec:
        spec = section_spec(cls, params, "attribution")
        unknown = set(spec.augmented) - set(spec.marks)
        if unknown:
            raise ValueError(f"attribution.augmented: {sorted(unknown)} are not in attribution.marks")
        missing = set(spec.kinds) - set(spec.steps)
        if missing:
            raise ValueError(f"attribution.steps has no entry for {sorted(missing)}")
        spec.mark_objects()  # every name parses
        return spec

    def mark_objects(self) -> list[EchoMark]:
        return [parse_mark(m, self.alpha, self.tse_alpha, self.pn_length, self.key) for m in self.marks]


@dataclass(frozen=True)
class ModelPlan:
    """One model to train: architecture, mark (None: clean), augmentation, seed."""

    kind: str
    mark: str | None
    augmented: bool
    seed: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.mark or 'clean'}{'-aug' if self.augmented else ''}-s{self.seed}"


def plan_models(spec: TrainSpec) -> list[ModelPlan]:
    plans = []
    for kind in spec.kinds:
        plans += [ModelPlan(kind, None, False, s) for s in range(spec.clean_seeds)]
        plans += [ModelPlan(kind, m, False, 0) for m in spec.marks]
        if spec.augmented:
            plans += [ModelPlan(kind, None, True, 0)] + [ModelPlan(kind, m, True, 0) for m in spec.augmented]
    return plans


def run_train(ctx: StepContext) -> dict[str, float]:
    from soundsafe.attribution.train import train_model
    from soundsafe.splits import load_split

    spec = TrainSpec.from_params(ctx.params["attribution"])
    marks = {m.name: m for m in spec.mark_objects()}
    tracks = load_split(ctx.path("data/validated") / MANIFEST_NAME, "train", spec.train_tracks, spec.train_seconds)
    metrics: dict[str, float] = {"models": 0.0, "train_tracks": float(len(tracks))}
    card = []
    with atomic_dir(ctx.path("models/attribution")) as out:
        for i, plan in enumerate(plan_models(spec)):
            mark = marks[plan.mark] if plan.mark else None
            result = train_model(
                plan.kind, tracks, mark, steps=spec.steps[plan.kind], batch=spec.batch, excerpt_s=spec.excerpt_s,
                lr=spec.lr, seed=plan.seed, pitch_semitones=spec.pitch_semitones if plan.augmented else 0,
                label=plan.name, log=lambda values, step, n=plan.name: ctx.run.log_metrics(
                    {f"{n}.{k}": v for k, v in values.items()}, step=step))
            head, tail = result.losses[:10], result.losses[-10:]
            entry = {**asdict(plan), "name": plan.name, "mark_spec": asdict(mark) if mark else None,
                     "steps": len(result.losses), "first_loss": sum(head) / max(len(head), 1),
                     "final_loss": sum(tail) / max(len(tail), 1),
                     "seconds_per_step": result.seconds_per_step}
            torch.save({"kind": plan.kind, "state_dict": result.model.state_dict(), "card": entry},
                       out / f"{plan.name}.pt")
            card.append(entry)
            metrics[f"{plan.name}.final_loss"] = entry["final_loss"]
            metrics[f"{plan.name}.seconds_per_step"] = entry["seconds_per_step"]
            metrics["models"] = float(i + 1)
        write_text(out / MODELS_CARD, json.dumps({"spec": asdict(spec), "models": card}, indent=1) + "\n")
    return metrics


def run_evaluate(ctx: StepContext) -> dict[str, float]:
    from soundsafe.attribution.report import evaluate_attribution

    card = json.loads((ctx.path("models/attribution") / MODELS_CARD).read_text(encoding="utf-8"))
    return evaluate_attribution(ctx, card)
