"""``cloak_evaluate``: fresh generative models trained on clean and cloaked music; ``reports/cloak/``.

Versions of the training music: clean, white-box cloaked, black-box cloaked, and each of them after an MP3
round trip (``mp3_kbps``), which is what a scraper may well get. For every version and every evaluation
architecture (``kinds``: fresh instances of the surrogates' kinds and the unseen transformer) a model is trained
from scratch; the effect of a cloak is its model's held-out loss and Fréchet distance against those of the model
trained on the matching clean version (clean for the raw cloaks, clean-after-MP3 for the MP3 ones). Every
(version, architecture) is trained with ``seeds`` seeds, and seed s of a cloaked version is compared with seed s of
its clean reference (same initialisation, same crop order): the paired effect, its mean and its range over seeds.
The Fréchet ratio is that of the seeds' median distances (a single model's Fréchet distance varies several-fold
between seeds: free-running samples drift). Imperceptibility of each cloak per track: SNR, NMR (the
project's psychoacoustic model), wideband PESQ.

Files: ``summary.md``, ``learning.csv`` (one row per version, architecture and seed), ``effects.csv`` (per version
and architecture, over seeds), ``curves.csv`` (held-out loss per step), ``imperceptibility.csv``,
``loss_curves.png``, ``metrics.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from soundsafe.atomic import write_text
from soundsafe.cloak.models import TOP_DB
from soundsafe.cloak.train import mel_frames, train_generative
from soundsafe.manifest import MANIFEST_NAME
from soundsafe.params import section_spec
from soundsafe.steps.context import StepContext

__all__ = ["EvalSpec", "evaluate_cloak"]

REPORT = "reports/cloak"
CLOAKS = ("whitebox", "blackbox")


@dataclass(frozen=True)
class EvalSpec:
    """``params.yaml: cloak_evaluate``."""

    kinds: list[str] = field(default_factory=lambda: ["ar", "diffusion", "transformer"])
    steps: int = 300
    batch: int = 16
    crop_frames: int = 128
    lr: float = 1e-3
    eval_every: int = 25
    heldout_tracks: int = 21  # the test split: clean, never cloaked, never trained on
    heldout_crops: int = 32
    mp3_kbps: int = 128
    seeds: int = 3  # models per (version, architecture), paired across versions
    samples: int = 32  # generated excerpts per model for the Fréchet distance
    seed: int = 100  # the evaluation models' first seed (the surrogates used cloak.seed)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvalSpec:
        spec = section_spec(cls, params, "cloak_evaluate")
        if "transformer" not in spec.kinds:
            raise ValueError("cloak_evaluate.kinds must include transformer: the unseen architecture")
        if spec.seeds < 1 or spec.samples < 2:
            raise ValueError("cloak_evaluate: seeds must be ≥ 1 and samples ≥ 2 (a Fréchet distance needs a spread)")
        return spec


def _mp3(audio: np.ndarray, kbps: int) -> np.ndarray:
    from soundsafe.attacks.codecs import encode_decode

    return encode_decode(np.clip(audio, -1, 1)[:, None], 44100, "mp3", kbps=kbps).audio[:, 0]


def _heldout_crops(tracks: list[np.ndarray], count: int, length: int) -> torch.Tensor:
    frames = mel_frames(tracks)
    rng = np.random.default_rng(7)
    rows = []
    for i in range(count):
        f = frames[i % len(frames)]
        start = int(rng.integers(0, max(f.shape[0] - length, 0) + 1))
        rows.append(f[start: start + length])
    return torch.stack(rows)


def imperceptibility(tracks: list[np.ndarray], deltas: dict[str, np.ndarray]) -> pd.DataFrame:
    from soundsafe.evaluation.quality import nmr_db, pesq_wb, snr_db

    rows = []
    for cloak in CLOAKS:
        for i, audio in enumerate(tracks):
            cloaked = audio + deltas[f"{cloak}_{i}"]
            ref, out = audio[:, None], cloaked[:, None]
            rows.append({"cloak": cloak, "track": i, "snr_db": snr_db(ref, out), "nmr_db": nmr_db(ref, out, 44100),
                         "pesq_wb": pesq_wb(ref, out, 44100)})
    return pd.DataFrame(rows)


def evaluate_cloak(ctx: StepContext, card: dict[str, Any], deltas: dict[str, np.ndarray]) -> dict[str, float]:
    from soundsafe.cloak.step import StepSpec
    from soundsafe.splits import load_split

    spec = EvalSpec.from_params(ctx.params["cloak_evaluate"])
    made = StepSpec(**card["spec"])
    manifest = ctx.path("data/validated") / MANIFEST_NAME
    tracks = load_split(manifest, "train", made.train_tracks, made.train_seconds)
    if f"whitebox_{len(tracks) - 1}" not in deltas or f"whitebox_{len(tracks)}" in deltas:
        raise ValueError("models/cloak does not match the training tracks (re-run the cloak step)")
    heldout = _heldout_crops(load_split(manifest, "test", spec.heldout_tracks, 30.0), spec.heldout_crops,
                             spec.crop_frames)
    versions: dict[str, list[np.ndarray]] = {"clean": tracks}
    for cloak in CLOAKS:
        versions[cloak] = [t + deltas[f"{cloak}_{i}"] for i, t in enumerate(tracks)]
    for name in list(versions):
        versions[f"{name}_mp3"] = [_mp3(t, spec.mp3_kbps) for t in versions[name]]
    rows, curves = [], []
    for version, audio in versions.items():
        frames = mel_frames(audio)
        for j, kind in enumerate(spec.kinds):
            for s in range(spec.seeds):
                trained = train_generative(kind, frames, heldout, steps=spec.steps, batch=spec.batch,
                                           crop_frames=spec.crop_frames, lr=spec.lr, seed=spec.seed + j + 100 * s,
                                           eval_every=spec.eval_every, sample_count=spec.samples,
                                           label=f"{kind} on {version} (seed {s + 1}/{spec.seeds})")
                rows.append({"version": version, "kind": kind, "seed": s, "heldout_loss": trained.heldout_loss,
                             "frechet": trained.frechet, "train_loss": float(np.mean(trained.train_loss[-10:]))})
                curves += [{"version": version, "kind": kind, "seed": s, "step": step, "heldout_loss": v}
                           for step, v in trained.heldout_curve]
    learning = _paired(pd.DataFrame(rows))
    effects = _effects(learning)
    quality = imperceptibility(tracks, deltas)
    out = ctx.path(REPORT)
    out.mkdir(parents=True, exist_ok=True)
    learning.to_csv(out / "learning.csv", index=False)
    effects.to_csv(out / "effects.csv", index=False)
    pd.DataFrame(curves).to_csv(out / "curves.csv", index=False)
    quality.to_csv(out / "imperceptibility.csv", index=False)
    _figure(pd.DataFrame(curves), out / "loss_curves.png")
    metrics = _metrics(effects, quality)
    write_text(out / "summary.md", _summary(effects, quality, metrics, card, spec))
    for name in ("summary.md", "loss_curves.png", "effects.csv", "learning.csv"):
        ctx.run.log_artifact(out / name, artifact_path="cloak")
    return metrics


def _reference(version: str) -> str:
    return "clean_mp3" if version.endswith("_mp3") else "clean"


def _paired(table: pd.DataFrame) -> pd.DataFrame:
    """Add each row's reference (the clean model of the same architecture and seed, after MP3 for MP3 versions)
    and the relative held-out loss increase and Fréchet ratio against it."""
    ref = table.set_index(["version", "kind", "seed"])
    table = table.assign(reference=table["version"].map(_reference))
    table["loss_increase"] = [row.heldout_loss / ref.loc[(row.reference, row.kind, row.seed), "heldout_loss"] - 1
                              for row in table.itertuples()]
    table["frechet_ratio"] = [row.frechet / ref.loc[(row.reference, row.kind, row.seed), "frechet"]
                              for row in table.itertuples()]
    return table


def _effects(paired: pd.DataFrame) -> pd.DataFrame:
    """Per version and architecture over seeds: mean held-out loss, median Fréchet distance, the paired loss
    increase (mean, lowest, highest) and the Fréchet ratio of the medians (one model's Fréchet distance is noisy)."""
    grouped = paired.groupby(["version", "kind"], sort=False)
    table = grouped.agg(seeds=("seed", "count"), heldout_loss=("heldout_loss", "mean"),
                        frechet=("frechet", "median"), loss_increase=("loss_increase", "mean"),
                        loss_increase_min=("loss_increase", "min"), loss_increase_max=("loss_increase", "max"),
                        reference=("reference", "first")).reset_index()
    medians = table.set_index(["version", "kind"])["frechet"]
    table["frechet_ratio"] = [row.frechet / medians.loc[(row.reference, row.kind)] for row in table.itertuples()]
    return table


def _metrics(learning: pd.DataFrame, quality: pd.DataFrame) -> dict[str, float]:
    m: dict[str, float] = {}
    for row in learning.itertuples():
        key = f"{row.kind}.{row.version}"
        m.update({f"{key}.heldout_loss": row.heldout_loss, f"{key}.frechet": row.frechet,
                  f"{key}.loss_increase": row.loss_increase, f"{key}.loss_increase.min": row.loss_increase_min,
                  f"{key}.frechet_ratio": row.frechet_ratio})
    for cloak, group in quality.groupby("cloak"):
        m[f"{cloak}.snr_db.min"] = float(group["snr_db"].min())
        m[f"{cloak}.nmr_db.max"] = float(group["nmr_db"].max())
        pesq = group["pesq_wb"].dropna()
        m[f"{cloak}.pesq_wb.median"] = float(pesq.median()) if len(pesq) else math.nan
    return m


def _figure(curves: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(curves["kind"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False)
    colours = {"clean": "black", "whitebox": "tab:red", "blackbox": "tab:blue"}
    for ax, kind in zip(axes[0], kinds, strict=True):
        for version, group in curves[curves["kind"] == kind].groupby("version"):
            base = version.removesuffix("_mp3")
            by_step = group.groupby("step")["heldout_loss"]
            mean, low, high = by_step.mean(), by_step.min(), by_step.max()
            ax.plot(mean.index, mean.to_numpy(), color=colours[base], ls="--" if version.endswith("_mp3") else "-",
                    label=version)
            ax.fill_between(mean.index, low.to_numpy(), high.to_numpy(), color=colours[base], alpha=0.12)
        ax.set_title(f"{kind}: loss on clean held-out music (mean, seeds' range)", fontsize=9)
        ax.set_xlabel("training step")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("held-out loss")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(value: float, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _summary(learning: pd.DataFrame, quality: pd.DataFrame, m: dict[str, float], card: dict[str, Any],
             spec: EvalSpec) -> str:
    made = card["spec"]
    lines = [
        "# Protective noise (HarmonyCloak): does a model learn less from cloaked music?", "",
        f"Cloaks of {made['train_tracks']} training tracks × {made['train_seconds']:g} s: white-box against "
        f"{', '.join(made['surrogates'])} surrogates, black-box meta-learned over "
        f"{', '.join(made['meta_surrogates'])}; "
        f"{made['rounds']} rounds of {made['train_steps']} surrogate steps and {made['pgd_steps']} PGD steps; budget "
        f"{made['margin_db']:g} dB under the masking threshold and at most the music's own level "
        f"{made.get('host_ceiling_db', 0.0):+g} dB per bin, SNR ≥ {made['min_snr_db']:g} dB. Fresh models "
        f"({', '.join(spec.kinds)}; transformer = never a surrogate) trained {spec.steps} steps on each version; "
        f"{spec.seeds} seed(s) each, seed s paired with seed s of the clean model; held-out loss on "
        f"{spec.heldout_crops} clean test-split crops; Fréchet distance of {spec.samples} generated "
        f"{spec.crop_frames}-frame excerpts to them (64-band log-mel frames, floored {TOP_DB:g} dB under each "
        "excerpt's maximum).", "",
        "| model | trained on | held-out loss | vs clean (mean, seeds' range) | Fréchet (median) | vs clean |",
        "|---|---|---|---|---|---|"]
    for row in learning.itertuples():
        lines.append(f"| {row.kind} | {row.version} | {_f(row.heldout_loss)} | {100 * row.loss_increase:+.1f} % "
                     f"({100 * row.loss_increase_min:+.1f} … {100 * row.loss_increase_max:+.1f}) | "
                     f"{_f(row.frechet, 2)} | {row.frechet_ratio:.2f}× |")
    lines += ["", "## Against the targets", ""]
    for cloak in CLOAKS:
        q = quality[quality["cloak"] == cloak]
        loss = m.get(f"transformer.{cloak}.loss_increase", math.nan)
        low = m.get(f"transformer.{cloak}.loss_increase.min", math.nan)
        fd = m.get(f"transformer.{cloak}.frechet_ratio", math.nan)
        loss_mp3 = m.get(f"transformer.{cloak}_mp3.loss_increase", math.nan)
        fd_mp3 = m.get(f"transformer.{cloak}_mp3.frechet_ratio", math.nan)
        lines.append(
            f"- **{cloak}**: NMR max {_f(q['nmr_db'].max(), 1)} dB (target < 0 on every clip), SNR min "
            f"{_f(q['snr_db'].min(), 1)} dB (≥ 30); unseen transformer: held-out loss {100 * loss:+.1f} % "
            f"(lowest seed {100 * low:+.1f} %; target ≥ +20 %), Fréchet {fd:.2f}× (≥ 2×); after MP3 "
            f"{100 * loss_mp3:+.1f} % and {fd_mp3:.2f}× (target: at least half the effect).")
    lines += ["", "## Imperceptibility per cloak", "", "| cloak | SNR dB (min / median) | NMR dB (median / max) | "
              "PESQ wb (median / min) |", "|---|---|---|---|"]
    for cloak, q in quality.groupby("cloak", sort=False):
        pesq = q["pesq_wb"].dropna().to_numpy()
        low, mid = (float(pesq.min()), float(np.median(pesq))) if pesq.size else (math.nan, math.nan)
        lines.append(f"| {cloak} | {_f(q['snr_db'].min(), 1)} / {_f(q['snr_db'].median(), 1)} | "
                     f"{_f(q['nmr_db'].median(), 1)} / {_f(q['nmr_db'].max(), 1)} | {_f(mid, 2)} / {_f(low, 2)} |")
    curves = card["curves"]
    lines += ["", "## The optimisation", "",
              "The surrogates' loss on the cloaked and on the clean tracks after each round (lower on the cloaked "
              "music = the noise made it easier):", ""]
    for name, c in curves.items():
        lines.append(f"- {name}: cloaked {', '.join(_f(v) for v in c['cloaked_loss'])}; clean "
                     f"{', '.join(_f(v) for v in c['clean_loss'])}")
    lines += ["", "![held-out loss curves](loss_curves.png)", ""]
    return "\n".join(lines)
