"""The fingerprint steps: ``fingerprint_train`` (a100), ``fingerprint_index`` (cpu), ``fingerprint_evaluate`` (cpu).

- train: the encoder on the corpus's train split (validation on val), plus its ONNX and int8 export with a
  parity check; ``models/fingerprint/``.
- index: every corpus track (all splits: the catalog) into the FAISS index; ``models/fingerprint_index/``.
- evaluate: retrieval vs SNR and query length and the streaming test, this model beside Chromaprint and a
  landmark (peak-pair) fingerprinter;
  ``reports/fingerprint/`` (table CSVs, Top-1 vs SNR figure, ``summary.md``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from soundsafe.atomic import write_text
from soundsafe.fingerprint.config import FingerprintConfig
from soundsafe.manifest import MANIFEST_NAME
from soundsafe.steps.context import StepContext

__all__ = ["run_evaluate", "run_index", "run_train"]


def run_train(ctx: StepContext) -> dict[str, float]:
    import torch

    from soundsafe.fingerprint.data import export_windows
    from soundsafe.fingerprint.export import export_encoder
    from soundsafe.fingerprint.model import load_encoder
    from soundsafe.fingerprint.train import TrainSpec, train_encoder

    config = FingerprintConfig.from_dict(ctx.params["fingerprint"])
    spec = TrainSpec.from_params(ctx.params["fingerprint_train"])
    manifest = ctx.path("data/validated") / MANIFEST_NAME
    out = ctx.path("models/fingerprint")
    out.mkdir(parents=True, exist_ok=True)
    metrics = train_encoder(spec, config, manifest, out,
                            log=lambda values, step: ctx.run.log_metrics(values, step=step))
    encoder = load_encoder(out / "model.pt")
    check, calibration = export_windows(manifest, config.window_samples, config.sample_rate)
    metrics.update(export_encoder(encoder, out, check, source=out / "model.pt", calibration=calibration))
    torch.set_num_threads(1)
    windows = torch.from_numpy(np.repeat(check, 8, axis=0))
    with torch.no_grad():
        encoder(windows)
        started = time.perf_counter()
        encoder(windows)
    metrics["encode_ms_per_window_1thread"] = 1000 * (time.perf_counter() - started) / len(windows)
    return metrics


def run_index(ctx: StepContext) -> dict[str, float]:
    from soundsafe.fingerprint.data import load_tracks
    from soundsafe.fingerprint.index import FingerprintIndex
    from soundsafe.fingerprint.model import load_encoder

    settings: dict[str, Any] = ctx.params["fingerprint_index"]
    encoder = load_encoder(ctx.path("models/fingerprint/model.pt"))
    tracks = load_tracks(ctx.path("data/validated") / MANIFEST_NAME, None, encoder.config.sample_rate)
    started = time.perf_counter()
    index = FingerprintIndex.build(encoder, tracks, **settings)
    seconds = time.perf_counter() - started
    size = index.save(ctx.path("models/fingerprint_index"))
    hours = sum(t.audio.size for t in tracks) / encoder.config.sample_rate / 3600
    print(f"indexed {len(tracks)} tracks ({hours * 60:.1f} min of audio) as {index.windows} windows, {index.kind}")
    return {"tracks": float(len(tracks)), "windows": float(index.windows), "audio_hours": hours,
            "index_bytes": float(size), "index_mb_per_hour": size / 2**20 / hours,
            "build_seconds": seconds, "exact": float(index.kind == "exact")}


def _figure(summary: Any, path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, metric in zip(axes, ("top1", "mrr"), strict=True):
        for (system, seconds), part in summary.groupby(["system", "seconds"]):
            style = {"soundsafe": "-", "chromaprint": "--"}.get(system, ":")
            ax.plot(part["snr_db"], part[metric], style, marker="o", label=f"{system}, {seconds:g} s")
        ax.set_xlabel("crowd SNR (dB), concert degradation")
        ax.set_title({"top1": "Top-1 accuracy", "mrr": "mean reciprocal rank"}[metric])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of queries")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_evaluate(ctx: StepContext) -> dict[str, float]:
    import torch

    from soundsafe.atomic import atomic_path
    from soundsafe.audio.io import read_audio
    from soundsafe.fingerprint.chromaprint import ChromaprintCatalog
    from soundsafe.fingerprint.evaluate import (
        CHROMAPRINT_THRESHOLD,
        LANDMARK_THRESHOLD,
        EvalSpec,
        Query,
        calibrate_threshold,
        chromaprint_ranker,
        landmark_ranker,
        model_ranker,
        noise_clips,
        retrieval,
        streaming,
        streams,
        summarize,
        target_lines,
    )
    from soundsafe.fingerprint.index import FingerprintIndex
    from soundsafe.fingerprint.landmark import LandmarkCatalog
    from soundsafe.fingerprint.model import load_encoder
    from soundsafe.manifest import audio_path, read_manifest

    torch.set_num_threads(1)  # latencies are one-core figures
    spec = EvalSpec.from_params(ctx.params["fingerprint_evaluate"])
    manifest = ctx.path("data/validated") / MANIFEST_NAME
    encoder = load_encoder(ctx.path("models/fingerprint/model.pt"))
    index = FingerprintIndex.load(ctx.path("models/fingerprint_index"))
    df = read_manifest(manifest)
    catalog, landmark = ChromaprintCatalog(), LandmarkCatalog()
    queries = []
    for _, row in df.iterrows():
        audio, sr = read_audio(audio_path(manifest, row["path"]))
        track_id = Path(row["path"]).stem  # the catalog's IDs (see fingerprint.data.load_tracks)
        catalog.add(track_id, audio, sr)
        landmark.add(track_id, audio, sr)
        if row["split"] in spec.splits:
            queries.append(Query(track_id, audio, sr))
    if not queries:
        raise ValueError(f"{manifest}: no tracks in splits {spec.splits} to query with")
    rankers = {"soundsafe": model_ranker(encoder, index), "chromaprint": chromaprint_ranker(catalog),
               "landmark": landmark_ranker(landmark)}
    table = retrieval(queries * spec.queries_per_track, rankers, spec)
    summary = summarize(table)
    # every system's decision threshold comes the same way: calibrated on noise-only clips, or set in params
    noise = noise_clips(queries, spec) if spec.threshold == "auto" else []
    fixed = {"chromaprint": CHROMAPRINT_THRESHOLD, "landmark": LANDMARK_THRESHOLD}  # with a numeric threshold
    thresholds = {name: (calibrate_threshold(rank, noise) if spec.threshold == "auto"
                         else fixed.get(name, float(spec.threshold))) for name, rank in rankers.items()}
    audio = streams(queries, spec)  # the same streams for both systems
    live = {name: streaming(queries, audio, rank, thresholds[name], spec) for name, rank in rankers.items()}
    out = ctx.path("reports/fingerprint")
    with atomic_path(out / "retrieval.csv") as tmp:
        summary.to_csv(tmp, index=False)
    _figure(summary, out / "top1_vs_snr.png")
    metrics: dict[str, float] = {"queries": float(len(table) / len(rankers)),
                                 **{f"{name}.threshold": value for name, value in thresholds.items()}}
    for row in summary.itertuples():
        key = f"{row.system}.snr{row.snr_db}.len{row.seconds:g}"  # MLflow names allow "-", not "+"
        metrics[f"{key}.top1"], metrics[f"{key}.mrr"] = row.top1, row.mrr
    for system, part in summary.groupby("system"):
        metrics[f"{system}.latency_ms"] = float(part["latency_ms"].median())
        metrics.update({f"{system}.stream.{k}": v for k, v in live[system].items()})
    lines = ["| system | SNR dB | length s | Top-1 | Top-5 | MRR | latency ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.system} | {r.snr_db:+d} | {r.seconds:g} | {r.top1:.2f} | {r.top5:.2f} | {r.mrr:.2f} | "
              f"{r.latency_ms:.0f} |" for r in summary.sort_values(["seconds", "snr_db", "system"]).itertuples()]
    lines += ["", "| system | threshold | time to first correct (s) | identified | noise-only false positives | "
                  "flips/min (raw) |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {s} | {thresholds[s]:.3f} | {v['time_to_first_correct_s']:.1f} | {v['identified_rate']:.2f} | "
              f"{v['noise_false_positive_rate']:.3f} | {v['flips_per_minute']:.2f} ({v['raw_flips_per_minute']:.2f}) |"
              for s, v in live.items()]
    lines += ["", *target_lines(summary, live.get("soundsafe", {}))]
    write_text(out / "summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    ctx.run.log_artifact(out / "top1_vs_snr.png", artifact_path="fingerprint")
    ctx.run.log_artifact(out / "summary.md", artifact_path="fingerprint")
    return metrics
