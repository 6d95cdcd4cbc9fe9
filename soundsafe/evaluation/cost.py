"""Computational cost (MPAI-NNW axis 3) and the cost projection of the full training plan.

- **Inference**: embed and detect real-time factors on a fixed number of threads and their peak memory, each
  measured in a fresh child process (``python -m soundsafe.evaluation.cost --op embed|detect``) so one peak
  does not hide another: peak RSS above the process's size after imports and model load, and peak CUDA
  memory when a GPU does the work. The peak is reset (``/proc/self/clear_refs``) after imports and model load.
- **Training**: per phase, from the training step's metrics: seconds per batch, throughput, steps run, and the
  steps it took to reach the target validation bit accuracy (MPAI-NNW's "epochs to insert the watermark").
- **Projection**: each phase at the ``full`` profile's steps and batch on its hardware class: hours and dollars
  at the class's price, with throughput configured per class in ``params.yaml`` or, where none is configured,
  the rate measured here scaled by batch size, beside the seed plan's estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SEED_ESTIMATE_USD", "inference_cost", "projection", "training_cost"]

# The seed plan's per-phase estimate (USD, low–high) and total ($76,700–$93,000).
SEED_ESTIMATE_USD: dict[str, tuple[float, float]] = {
    "core": (35_000, 40_000),
    "variable": (20_000, 25_000),
    "hierarchical": (15_000, 20_000),
    "loss_finetune": (2_500, 3_000),
    "realtime": (3_500, 4_000),
    "validation": (700, 1_000),
}


def _status_mb(field: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process from /proc (Linux), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets the peak RSS (VmHWM), so the peak measured next is the operation's own
    # rather than the import of torch and its CUDA libraries.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_mb() -> float:
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _probe(op: str, model: str | None, audio_path: Path, sr: int, threads: int) -> dict[str, float]:
    import torch

    from soundsafe.payload.keys import DEMO_KEY
    from soundsafe.watermark.api import detect, embed
    from soundsafe.watermark.checkpoint import load_model

    torch.set_num_threads(threads)
    net, _ = load_model(model)
    audio = np.load(audio_path)
    record = {"isrc": "QZSSD2600001", "title": "Cost probe", "display_artist": "SoundSafe"}
    marked = embed(audio, sr, record, DEMO_KEY, net) if op == "detect" else audio
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    before = _status_mb("VmRSS") or _peak_mb()
    _reset_peak()
    started = time.perf_counter()
    if op == "embed":
        embed(audio, sr, record, DEMO_KEY, net)
    else:
        detect(marked, sr, DEMO_KEY, net)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "realtime_factor": audio.shape[0] / sr / wall,
            "peak_rss_mb": _peak_mb(), "rss_before_mb": before,
            "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0}


def inference_cost(audio: np.ndarray, sr: int, model: str | os.PathLike[str] | None = None,
                   threads: int = 1) -> dict[str, float]:
    """Embed and detect real-time factors and peak memory on ``audio``, each in a fresh process."""
    out: dict[str, float] = {"audio_seconds": audio.shape[0] / sr, "threads": threads}
    with tempfile.TemporaryDirectory(prefix="soundsafe-cost-") as tmp:
        path = Path(tmp) / "audio.npy"
        np.save(path, audio.astype(np.float32))
        for op in ("embed", "detect"):
            cmd = [sys.executable, "-m", "soundsafe.evaluation.cost", "--op", op, "--audio", str(path),
                   "--sr", str(sr), "--threads", str(threads)] + (["--model", str(model)] if model else [])
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"cost probe for {op} failed: {done.stderr.strip()[-600:]}")
            probe = json.loads(done.stdout.strip().splitlines()[-1])
            out[f"{op}_realtime_factor"] = probe["realtime_factor"]
            out[f"{op}_seconds"] = probe["wall_s"]
            out[f"{op}_peak_rss_mb"] = probe["peak_rss_mb"]
            out[f"{op}_added_rss_mb"] = max(probe["peak_rss_mb"] - probe["rss_before_mb"], 0.0)
            out[f"{op}_peak_cuda_mb"] = probe["peak_cuda_mb"]
    return out


def training_cost(phase_metrics: Mapping[str, Mapping[str, float]],
                  hardware: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per training phase from its step metrics (phases without metrics are skipped)."""
    rows = []
    for phase, m in phase_metrics.items():
        sps = float(m.get("steps_per_second", 0.0))
        rows.append({
            "phase": phase, "hardware": hardware.get(phase, "?"),
            "ran_on": "cuda" if m.get("peak_cuda_mb", 0.0) > 0 else "cpu",
            "steps": int(m.get("steps", 0)), "steps_to_target": int(m.get("steps_to_target", -1)),
            "seconds_per_batch": float(m.get("seconds_per_batch", 1.0 / sps if sps else float("nan"))),
            "audio_seconds_per_second": float(m.get("audio_seconds_per_second", float("nan"))),
            "train_seconds": float(m.get("train_seconds", float("nan"))),
            "peak_rss_mb": float(m.get("peak_rss_mb", float("nan"))),
            "peak_cuda_mb": float(m.get("peak_cuda_mb", 0.0)),
        })
    return rows


def projection(training: list[dict[str, Any]], batches: Mapping[str, tuple[int, int]],
               full_steps: Mapping[str, int], prices: Mapping[str, float],
               throughput: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Hours and dollars of each phase at full scale.

    ``batches``: phase → (batch measured here, full batch); ``throughput``: class → steps/s at the full batch
    (None: the measured steps/s here × measured batch / full batch, i.e. audio throughput kept).
    """
    rows = []
    for row in training:
        phase, hw = row["phase"], row["hardware"]
        here_batch, full_batch = batches[phase]
        configured = throughput.get(hw)
        measured = 1.0 / row["seconds_per_batch"] if row["seconds_per_batch"] > 0 else float("nan")
        sps = float(configured) if configured else measured * here_batch / full_batch
        hours = full_steps[phase] / sps / 3600 if sps > 0 else float("nan")
        low, high = SEED_ESTIMATE_USD.get(phase, (float("nan"), float("nan")))
        rows.append({"phase": phase, "hardware": hw, "full_steps": full_steps[phase], "full_batch": full_batch,
                     "steps_per_second": sps, "source": "configured" if configured else "measured here (scaled)",
                     "hours": hours, "usd": hours * prices.get(hw, float("nan")),
                     "seed_usd_low": low, "seed_usd_high": high})
    return rows


def _main() -> None:
    parser = argparse.ArgumentParser(description="Measure one inference operation (used by inference_cost).")
    parser.add_argument("--op", choices=("embed", "detect"), required=True)
    parser.add_argument("--audio", type=Path, required=True, help=".npy of (frames, channels) float32")
    parser.add_argument("--sr", type=int, required=True)
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(_probe(args.op, args.model, args.audio, args.sr, args.threads)))


if __name__ == "__main__":
    _main()
