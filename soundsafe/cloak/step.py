"""The cloak steps: ``cloak`` (t4) makes the white-box and black-box cloaks of the training music,
``cloak_evaluate`` (t4) trains fresh generative models on clean and cloaked music and measures what they learned.

``models/cloak/``: ``deltas.npz`` (the noise per track and cloak, float32: ``whitebox_<i>``, ``blackbox_<i>``)
and ``cloak.json`` (the settings, the tracks, the optimisation's curves). The cloaked music is the corpus excerpt
plus its noise, so the artifact stays small and the clean music is never copied.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from soundsafe.atomic import atomic_dir, write_text
from soundsafe.cloak.budget import BudgetSpec
from soundsafe.cloak.models import KINDS
from soundsafe.cloak.optimize import CloakSpec
from soundsafe.manifest import MANIFEST_NAME
from soundsafe.params import section_spec
from soundsafe.steps.context import StepContext

__all__ = ["StepSpec", "run_cloak", "run_evaluate"]

CARD = "cloak.json"
DELTAS = "deltas.npz"


@dataclass(frozen=True)
class StepSpec:
    """``params.yaml: cloak``."""

    train_tracks: int = 8
    train_seconds: float = 10.0
    surrogates: list[str] = field(default_factory=lambda: ["ar", "diffusion"])  # white-box
    meta_surrogates: list[str] = field(default_factory=lambda: ["ar", "diffusion", "ar"])  # black-box, Q of them
    rounds: int = 5
    train_steps: int = 20
    pgd_steps: int = 2
    step: float = 0.5
    crop_s: float = 2.0
    batch: int = 8
    lr: float = 1e-3
    inner_lr: float = 1e-2
    margin_db: float = 3.0
    min_snr_db: float = 32.0
    host_ceiling_db: float = 0.0
    seed: int = 0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> StepSpec:
        spec = section_spec(cls, params, "cloak")
        for name in spec.surrogates + spec.meta_surrogates:
            if name not in KINDS or name == "transformer":
                raise ValueError(f"cloak: surrogate {name!r} must be one of ar, diffusion (the transformer is the "
                                 "evaluation's unseen architecture and never a surrogate)")
        if len(spec.meta_surrogates) < 2:
            raise ValueError("cloak.meta_surrogates: the black-box cloak needs at least 2 (one is held out)")
        return spec

    def cloak_spec(self) -> CloakSpec:
        return CloakSpec(rounds=self.rounds, train_steps=self.train_steps, pgd_steps=self.pgd_steps, step=self.step,
                         crop_s=self.crop_s, batch=self.batch, lr=self.lr, inner_lr=self.inner_lr,
                         budget=BudgetSpec(margin_db=self.margin_db, min_snr_db=self.min_snr_db,
                                           host_ceiling_db=self.host_ceiling_db))


def run_cloak(ctx: StepContext) -> dict[str, float]:
    from soundsafe.cloak.optimize import make_cloak
    from soundsafe.splits import load_split

    spec = StepSpec.from_params(ctx.params["cloak"])
    tracks = load_split(ctx.path("data/validated") / MANIFEST_NAME, "train", spec.train_tracks, spec.train_seconds)
    metrics: dict[str, float] = {"tracks": float(len(tracks))}
    card: dict[str, Any] = {"spec": asdict(spec), "curves": {}}
    arrays: dict[str, np.ndarray] = {}
    for name, kinds, blackbox in (("whitebox", spec.surrogates, False), ("blackbox", spec.meta_surrogates, True)):
        result = make_cloak(tracks, kinds, spec.cloak_spec(), seed=spec.seed, blackbox=blackbox,
                            label=f"cloak {name}", log=lambda values, r, n=name: ctx.run.log_metrics(
                                {f"{n}.{k}": v for k, v in values.items()}, step=r))
        arrays.update({f"{name}_{i}": d.astype(np.float32) for i, d in enumerate(result.deltas)})
        card["curves"][name] = {"surrogate_loss": result.surrogate_loss, "cloaked_loss": result.cloaked_loss,
                                "clean_loss": result.clean_loss}
        metrics[f"{name}.surrogate_cloaked_loss"] = result.cloaked_loss[-1]
        metrics[f"{name}.surrogate_clean_loss"] = result.clean_loss[-1]
    with atomic_dir(ctx.path("models/cloak")) as out:
        np.savez_compressed(out / DELTAS, **arrays)
        write_text(out / CARD, json.dumps(card, indent=1) + "\n")
    return metrics


def run_evaluate(ctx: StepContext) -> dict[str, float]:
    from soundsafe.cloak.report import evaluate_cloak

    folder = ctx.path("models/cloak")
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    with np.load(folder / DELTAS) as data:
        deltas = {k: data[k] for k in data.files}
    return evaluate_cloak(ctx, card, deltas)
