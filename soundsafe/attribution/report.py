"""``attribution_evaluate``: score every model's outputs, write ``reports/attribution/`` and the metrics.

Files: ``summary.md`` (the result table against the issue's targets), ``attribution.csv`` (one row per mark,
architecture, augmentation and condition), ``clips.csv`` (every clip's z-scores), ``models.csv`` (per model: pooled
z-scores and held-out loss), ``marking.csv`` (SNR and NMR of each mark on training tracks), ``zscores.png`` and
``roc.png``.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from soundsafe.atomic import write_text
from soundsafe.attribution.detect import z_score
from soundsafe.attribution.evaluate import Attribution, EvalSpec, clip_scores, held_out_clips, mark_quality, summarise
from soundsafe.attribution.marks import EchoMark
from soundsafe.attribution.models import build_model
from soundsafe.manifest import MANIFEST_NAME
from soundsafe.progress import progress
from soundsafe.steps.context import StepContext

__all__ = ["evaluate_attribution", "load_model"]

REPORT = "reports/attribution"


def load_model(path: Path) -> torch.nn.Module:
    """A model saved by ``attribution_train``."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    model = build_model(saved["kind"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def evaluate_attribution(ctx: StepContext, card: dict[str, Any]) -> dict[str, float]:
    from soundsafe.attribution.step import TrainSpec
    from soundsafe.splits import load_split

    spec = EvalSpec.from_params(ctx.params["attribution_evaluate"])
    train_spec = TrainSpec(**card["spec"])  # the marks the models were trained with
    marks = train_spec.mark_objects()
    manifest = ctx.path("data/validated") / MANIFEST_NAME
    tracks = load_split(manifest, "test", spec.test_tracks, spec.clip_s * spec.clips_per_track + 1)
    clips = held_out_clips(tracks, spec.clip_s, spec.clips_per_track)
    out = ctx.path(REPORT)
    out.mkdir(parents=True, exist_ok=True)

    scores, pooled_rows = [], []
    entries = [{"name": "input", "kind": "input", "mark": None, "augmented": False, "final_loss": math.nan}]
    entries += card["models"]
    for entry in progress(entries, desc="attribution: models", unit="model"):
        model = None if entry["name"] == "input" else load_model(ctx.path("models/attribution") / f"{entry['name']}.pt")
        with torch.inference_mode():
            frame, pooled = clip_scores(model, clips, marks, spec.mp3_kbps)
        scores.append(frame.assign(model=entry["name"]))
        for condition, cepstrum in pooled.items():
            pooled_rows.append({"model": entry["name"], "condition": condition,
                                "loss": float(frame[frame["condition"] == condition]["loss"].mean()),
                                **{m.name: z_score(cepstrum, m) for m in marks}})
    clips_df = pd.concat(scores, ignore_index=True)
    models_df = pd.DataFrame([{k: e[k] for k in ("kind", "mark", "augmented", "final_loss")} | {"model": e["name"]}
                              for e in entries])
    pooled_df = pd.DataFrame(pooled_rows)
    trained = models_df[models_df["kind"] != "input"]
    rows = summarise(clips_df[clips_df["model"] != "input"], trained, pooled_df, spec.threshold_z)
    quality_tracks = load_split(manifest, "train", spec.quality_tracks, 10.0)
    marking = mark_quality(quality_tracks, marks)

    table = pd.DataFrame([asdict(r) for r in rows])
    clips_df.to_csv(out / "clips.csv", index=False)
    pooled_df.merge(models_df, on="model").to_csv(out / "models.csv", index=False)
    table.to_csv(out / "attribution.csv", index=False)
    marking.to_csv(out / "marking.csv", index=False)
    _figures(clips_df, models_df, marks, rows, out)
    metrics = _metrics(rows, clips_df, pooled_df, models_df, marking, marks, spec)
    write_text(out / "summary.md", _summary(rows, metrics, pooled_df, models_df, marking, marks, spec, len(clips),
                                            card))
    for name in ("summary.md", "zscores.png", "roc.png", "attribution.csv"):
        ctx.run.log_artifact(out / name, artifact_path="attribution")
    return metrics


def _metrics(rows: list[Attribution], clips: pd.DataFrame, pooled: pd.DataFrame, models: pd.DataFrame,
             marking: pd.DataFrame, marks: list[EchoMark], spec: EvalSpec) -> dict[str, float]:
    m: dict[str, float] = {"clips": float(clips["clip"].nunique())}
    for r in rows:
        key = f"{r.kind}.{r.mark}{'.aug' if r.augmented else ''}.{r.condition}"
        m.update({f"{key}.auc": r.auc, f"{key}.mean_z": r.mean_z, f"{key}.fpr": r.fpr, f"{key}.tpr": r.tpr})
    plain = [r for r in rows if not r.augmented]
    for condition in ("raw", "mp3"):
        here = [r for r in plain if r.condition == condition]
        if here:
            m[f"min_auc.{condition}"] = min(r.auc for r in here)
            m[f"max_fpr.{condition}"] = max(r.fpr for r in here)
    inputs = clips[(clips["model"] == "input") & (clips["condition"] == "raw")]
    for mark in marks:
        m[f"input.{mark.name}.mean_z"] = float(inputs[mark.name].mean())
    for name, group in marking.groupby("mark"):
        m[f"marking.{name}.snr_db"] = float(group["snr_db"].median())
        m[f"marking.{name}.nmr_db"] = float(group["nmr_db"].median())
    raw = pooled[pooled["condition"] == "raw"].merge(models, on="model")
    for kind, group in raw[raw["kind"] != "input"].groupby("kind"):
        clean = group[group["mark"].isna() & ~group["augmented"].astype(bool)]["loss"].mean()
        marked = group[group["mark"].notna() & ~group["augmented"].astype(bool)]["loss"].mean()
        m[f"{kind}.heldout_loss.clean"] = float(clean)
        m[f"{kind}.heldout_loss.marked"] = float(marked)
    return m


def _figures(clips: pd.DataFrame, models: pd.DataFrame, marks: list[EchoMark], rows: list[Attribution],
             out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = clips.merge(models, on="model")
    kinds = [k for k in models["kind"].unique() if k != "input"]
    fig, axes = plt.subplots(2, len(kinds), figsize=(6 * len(kinds), 7), squeeze=False, sharey=True)
    for col, kind in enumerate(kinds):
        for row, condition in enumerate(("raw", "mp3")):
            ax = axes[row][col]
            here = table[(table["condition"] == condition)]
            data, labels = [], []
            for mark in marks:
                for label, sel in (("clean", (here["kind"] == kind) & here["mark"].isna()),
                                   ("marked", (here["kind"] == kind) & (here["mark"] == mark.name)
                                    & ~here["augmented"].astype(bool)),
                                   ("aug", (here["kind"] == kind) & (here["mark"] == mark.name)
                                    & here["augmented"].astype(bool)),
                                   ("input", here["kind"] == "input")):
                    values = here[sel][mark.name].to_numpy()
                    if values.size:
                        data.append(values)
                        labels.append(f"{mark.name}\n{label}")
            ax.boxplot(data, showfliers=True)
            ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7, rotation=90)
            ax.axhline(3.0, color="tab:red", lw=0.8, ls="--")
            ax.set_title(f"{kind}, outputs {'as made' if condition == 'raw' else 'after MP3'}")
            ax.set_ylabel("cepstral z-score per clip")
    fig.tight_layout()
    fig.savefig(out / "zscores.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), squeeze=False)
    for ax, condition in zip(axes[0], ("raw", "mp3"), strict=True):
        for kind in kinds:
            here = table[(table["condition"] == condition) & (table["kind"] == kind)]
            for mark in marks:
                pos = here[(here["mark"] == mark.name) & ~here["augmented"].astype(bool)][mark.name].to_numpy()
                neg = here[here["mark"].isna()][mark.name].to_numpy()
                if not pos.size or not neg.size:
                    continue
                thresholds = np.unique(np.concatenate([pos, neg, [np.inf]]))[::-1]
                ax.plot([(neg >= t).mean() for t in thresholds], [(pos >= t).mean() for t in thresholds],
                        label=f"{kind} {mark.name}", lw=1.2)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls=":")
        ax.set_xlabel("false attribution (clean-trained model's clips)")
        ax.set_ylabel("true attribution")
        ax.set_title(f"per 5 s clip, outputs {'as made' if condition == 'raw' else 'after MP3'}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=110)
    plt.close(fig)


def _f(value: float, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _summary(rows: list[Attribution], m: dict[str, float], pooled: pd.DataFrame, models: pd.DataFrame,
             marking: pd.DataFrame, marks: list[EchoMark], spec: EvalSpec, clips: int, card: dict[str, Any]) -> str:
    train = card["spec"]
    lines = [
        "# Attribution: do hidden echoes in training music survive into a generative model's outputs?",
        "",
        f"Models trained ({len(card['models'])}): architectures {', '.join(train['kinds'])}; per architecture "
        f"{train['clean_seeds']} on clean music, one per mark ({', '.join(train['marks'])}), and with ±"
        f"{train['pitch_semitones']}-semitone pitch-shift augmentation one clean and one per mark in "
        f"{', '.join(train['augmented']) or 'none'}; {train['train_tracks']} training tracks × "
        f"{train['train_seconds']:g} s, steps {train['steps']}, batch {train['batch']} × {train['excerpt_s']:g} s.",
        f"Read on {clips} held-out clips of {spec.clip_s:g} s (test split, never marked), as made and after MP3 "
        f"{spec.mp3_kbps} kbps. Single echo α = {train['alpha']}, time-spread echo α = {train['tse_alpha']} over "
        f"{train['pn_length']} keyed taps. Threshold z > {spec.threshold_z:g} (fixed in advance). Negatives for a "
        "row: the clips of the clean-trained models of the same architecture (with and without augmentation).",
        "",
        "| mark | model | augmented | outputs | mean z | median z | AUC per clip | TPR | FPR "
        "| pooled z (marked models) | pooled z (clean models) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.mark} | {r.kind} | {'yes' if r.augmented else 'no'} | {r.condition} | {_f(r.mean_z)} | "
                     f"{_f(r.median_z)} | {_f(r.auc, 3)} | {_f(r.tpr)} | {_f(r.fpr, 3)} | "
                     f"{', '.join(_f(v, 1) for v in r.model_z)} | {', '.join(_f(v, 1) for v in r.negative_model_z)} |")
    lines += ["", "## Against the targets", ""]
    for kind in dict.fromkeys(r.kind for r in rows):
        plain = [r for r in rows if r.kind == kind and not r.augmented]
        raw = [r for r in plain if r.condition == "raw"]
        mp3 = [r for r in plain if r.condition == "mp3"]
        z_ok = [r.mark for r in raw if r.mean_z >= 3 and r.auc >= 0.95]
        mp3_ok = [r.mark for r in mp3 if r.auc >= 0.9]
        fpr = max((r.fpr for r in raw + mp3), default=math.nan)
        lines.append(f"- **{kind}**: mean z ≥ 3 and AUC ≥ 0.95 for {len(z_ok)} of {len(raw)} marks "
                     f"({', '.join(z_ok) or 'none'}); AUC ≥ 0.9 after MP3 for {len(mp3_ok)} of {len(mp3)} "
                     f"({', '.join(mp3_ok) or 'none'}); largest false-attribution rate {_f(fpr, 3)} (target ≤ 0.01).")
    lines += ["", "## Cost of marking and model quality", "",
              "| mark | SNR (dB, median) | NMR (dB, median) | NMR (dB, max) |", "|---|---|---|---|"]
    for name, group in marking.groupby("mark", sort=False):
        lines.append(f"| {name} | {_f(group['snr_db'].median(), 1)} | {_f(group['nmr_db'].median(), 1)} | "
                     f"{_f(group['nmr_db'].max(), 1)} |")
    lines += ["", "Held-out spectral loss of each model re-synthesising clean test clips (lower is better):", "",
              "| model | trained on | augmented | loss (raw outputs) | training loss at the end |",
              "|---|---|---|---|---|"]
    raw = pooled[pooled["condition"] == "raw"].merge(models, on="model")
    for _, r in raw[raw["kind"] != "input"].iterrows():
        lines.append(f"| {r['model']} | {r['mark'] if isinstance(r['mark'], str) else 'clean'} | "
                     f"{'yes' if r['augmented'] else 'no'} | {_f(r['loss'], 3)} | {_f(r['final_loss'], 3)} |")
    inputs = ", ".join(f"{mk.name} {_f(m[f'input.{mk.name}.mean_z'])}" for mk in marks)
    lines += ["", f"The never-marked inputs themselves read: mean z {inputs}.", "",
              "![z-scores](zscores.png)", "", "![ROC](roc.png)", ""]
    return "\n".join(lines)
