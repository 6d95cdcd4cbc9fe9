"""The attribution measurements: cepstral z-scores of what each trained model makes from never-marked inputs.

For every model and every held-out clip the model's output is read for every mark (raw, and after an MP3
round trip); "was this model trained on data marked with m" is then a two-class problem: clips of models
trained on ``m`` (positives) against clips of the clean-trained models of the same architecture (negatives).
The per-clip AUC is the hard version (one 5 s output); a rights holder who can query a model many times pools
its outputs, which is the per-model z-score. Quality: how much a mark changes the training audio (SNR, NMR under
the project's psychoacoustic model) and how well each model re-synthesises clean held-out audio (its spectral
loss), marked-trained against clean-trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from soundsafe.attribution.detect import mean_cepstrum, z_score
from soundsafe.attribution.marks import EchoMark, apply_mark
from soundsafe.attribution.models import SAMPLE_RATE, spectral_loss
from soundsafe.attribution.train import generate
from soundsafe.params import section_spec

__all__ = ["EvalSpec", "auc", "clip_scores", "held_out_clips", "mark_quality", "summarise"]


@dataclass(frozen=True)
class EvalSpec:
    """``params.yaml: attribution_evaluate``."""

    test_tracks: int = 21  # held-out tracks (the test split): never marked, never trained on
    clip_s: float = 5.0
    clips_per_track: int = 2
    mp3_kbps: int = 128
    threshold_z: float = 3.0  # fixed before looking: a clip or model is "attributed" above it
    quality_tracks: int = 8  # training tracks whose marking is measured (SNR, NMR)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvalSpec:
        return section_spec(cls, params, "attribution_evaluate")


def held_out_clips(tracks: list[np.ndarray], clip_s: float, per_track: int) -> list[np.ndarray]:
    """``per_track`` consecutive clips of ``clip_s`` from the middle of each track (fewer when it is short)."""
    n = round(clip_s * SAMPLE_RATE)
    clips = []
    for audio in tracks:
        count = min(per_track, audio.size // n)
        start = (audio.size - count * n) // 2
        clips += [audio[start + i * n: start + (i + 1) * n] for i in range(count)]
    if not clips:
        raise ValueError(f"no test track is {clip_s} s long; lower attribution_evaluate.clip_s")
    return clips


def _mp3(audio: np.ndarray, kbps: int) -> np.ndarray:
    from soundsafe.attacks.codecs import encode_decode

    peak = max(float(np.abs(audio).max()), 1.0)  # the codec takes [-1, 1]; a model may overshoot
    return encode_decode((audio / peak)[:, None], SAMPLE_RATE, "mp3", kbps=kbps).audio[:, 0] * peak


def clip_scores(model: torch.nn.Module | None, clips: list[np.ndarray], marks: list[EchoMark], mp3_kbps: int
                ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Per clip and condition (raw, mp3), every mark's z-score and the model's spectral loss against the clean
    input; ``model`` None reads the inputs themselves. Also the mean cepstrum per condition (for pooling)."""
    rows, pooled = [], {}
    for condition in ("raw", "mp3"):
        ceps = []
        for i, clip in enumerate(clips):
            out = generate(model, clip) if model is not None else clip
            if condition == "mp3":
                out = _mp3(out, mp3_kbps)
            c = mean_cepstrum(out)
            ceps.append(c)
            with torch.no_grad():
                loss = float(spectral_loss(torch.from_numpy(out)[None], torch.from_numpy(clip)[None]))
            rows.append({"clip": i, "condition": condition, "loss": loss, **{m.name: z_score(c, m) for m in marks}})
        pooled[condition] = np.mean(ceps, axis=0)
    return pd.DataFrame(rows), pooled


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(positive > negative) + ½ P(tie): the area under the ROC curve (Mann–Whitney)."""
    p, n = np.asarray(positives, float)[:, None], np.asarray(negatives, float)[None, :]
    if not p.size or not n.size:
        return float("nan")
    return float((p > n).mean() + 0.5 * (p == n).mean())


def mark_quality(tracks: list[np.ndarray], marks: list[EchoMark]) -> pd.DataFrame:
    """SNR and NMR (dB) of each mark on each training track."""
    from soundsafe.evaluation.quality import nmr_db, snr_db

    rows = []
    for i, audio in enumerate(tracks):
        for m in marks:
            marked = apply_mark(audio, m)
            rows.append({"track": i, "mark": m.name, "snr_db": snr_db(audio[:, None], marked[:, None]),
                         "nmr_db": nmr_db(audio[:, None], marked[:, None], SAMPLE_RATE)})
    return pd.DataFrame(rows)


@dataclass
class Attribution:
    """One row of the result table: a mark, an architecture, with or without augmentation, one condition."""

    mark: str
    kind: str
    augmented: bool
    condition: str
    clips: int
    mean_z: float
    median_z: float
    auc: float
    tpr: float
    fpr: float
    model_z: list[float] = field(default_factory=list)  # pooled z of each positive model
    negative_model_z: list[float] = field(default_factory=list)


def summarise(scores: pd.DataFrame, models: pd.DataFrame, pooled: pd.DataFrame, threshold: float
              ) -> list[Attribution]:
    """The result table from per-clip ``scores`` (columns model, condition, clip and one per mark), the model
    table (model, kind, mark, augmented) and per-model pooled z-scores (model, condition, one per mark).
    Negatives for a (mark, kind) are the clean-trained models of that kind, with and without augmentation."""
    out = []
    table = scores.merge(models, on="model")
    ptable = pooled.merge(models, on="model")
    for (kind, mark, augmented), _ in models.dropna(subset=["mark"]).groupby(["kind", "mark", "augmented"]):
        for condition in ("raw", "mp3"):
            here = table[(table["kind"] == kind) & (table["condition"] == condition)]
            pos = here[(here["mark"] == mark) & (here["augmented"] == augmented)][mark].to_numpy()
            neg = here[here["mark"].isna()][mark].to_numpy()
            pk = ptable[(ptable["kind"] == kind) & (ptable["condition"] == condition)]
            out.append(Attribution(
                mark, kind, bool(augmented), condition, int(pos.size), float(np.mean(pos)), float(np.median(pos)),
                auc(pos, neg), float((pos > threshold).mean()), float((neg > threshold).mean()) if neg.size else
                float("nan"),
                pk[(pk["mark"] == mark) & (pk["augmented"] == augmented)][mark].round(2).tolist(),
                pk[pk["mark"].isna()][mark].round(2).tolist()))
    return out
