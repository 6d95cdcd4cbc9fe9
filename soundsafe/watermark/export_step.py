"""The ``export`` step: the trained model to ONNX (+ int8), checked against PyTorch, and timed on one core.

On the test split it measures, for torch, ONNX fp32 and ONNX int8 (the spectral graphs with the STFT in
SciPy, what :class:`~soundsafe.watermark.engine.OnnxEngine` runs by default) and the self-contained fp32 graphs
(STFT inside ONNX Runtime) side by side: embedding parity (largest
sample difference against torch), read parity (largest statistic difference, and agreement with torch's bit
reads of the same audio where torch's statistic is not a near-tie), bit
accuracy clean and after MP3 128 kbps, SNR of the mark, and embed/detect real-time factors with one thread.
It also runs the streaming detector live on MP3'd marked audio in 1 s blocks: CPU time per block and seconds
from the start of the marked audio to the first ISRC report. ``reports/export/engines.csv`` is the table.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from soundsafe.atomic import write_text
from soundsafe.attacks import apply_attack
from soundsafe.attacks.noise import snr_db
from soundsafe.evaluation.harness import Clip, clips_from_manifest
from soundsafe.manifest import MANIFEST_NAME
from soundsafe.payload.keys import PayloadKey
from soundsafe.payload.packets import encode_payload
from soundsafe.steps.context import StepContext
from soundsafe.watermark.api import detect, embed
from soundsafe.watermark.engine import Engine, OnnxEngine, TorchEngine
from soundsafe.watermark.export import export_onnx
from soundsafe.watermark.streaming import StreamingDetector, code_settings

__all__ = ["ENGINES", "run"]

ENGINES = ("torch", "onnx_fp32", "onnx_int8", "onnx_fp32_graph")
_KEY = PayloadKey(b"soundsafe-export-check-key-01234")


def _grid_stats(engine: Engine, audio: np.ndarray, sr: int, record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Embedded bits and this engine's statistics at the known chunk grid, ``(chunks, K)`` each."""
    from soundsafe.audio.io import resample

    c = engine.config
    mono = resample(audio, sr, c.sample_rate).mean(axis=1)
    chunks = mono.shape[0] // c.chunk_samples
    sent = encode_payload(record, _KEY, code_settings(engine, None)).chunk_bits(chunks)
    stats = engine.statistics(mono[: chunks * c.chunk_samples].reshape(chunks, -1), _KEY.carrier_seed)
    return sent, stats


def _accuracy(engine: Engine, audio: np.ndarray, sr: int, record: dict[str, Any]) -> float:
    sent, stats = _grid_stats(engine, audio, sr, record)
    return float(((stats > 0) == sent).mean())


def _median_seconds(work: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _speed(engine: Engine, clip: Clip, seconds: float, repeats: int) -> dict[str, float]:
    reps = int(np.ceil(seconds * clip.sr / clip.audio.shape[0]))
    audio = np.tile(clip.audio, (reps, 1))[: int(seconds * clip.sr)]
    marked = embed(audio, clip.sr, clip.record, _KEY, engine)
    duration = audio.shape[0] / clip.sr
    return {"embed_rtf": duration / _median_seconds(lambda: embed(audio, clip.sr, clip.record, _KEY, engine), repeats),
            "detect_rtf": duration / _median_seconds(lambda: detect(marked, clip.sr, _KEY, engine), repeats)}


def _live(engine: Engine, clip: Clip, attacked: np.ndarray) -> tuple[list[float], float | None]:
    """CPU seconds per 1 s block of a live detector, and when (s into the audio) it first reported the ISRC."""
    detector = StreamingDetector(clip.sr, _KEY, engine)
    per_block, first = [], None
    for start in range(0, attacked.shape[0], clip.sr):
        started = time.process_time()
        events = detector.push(attacked[start: start + clip.sr])
        per_block.append(time.process_time() - started)
        hit = [e.time_s for e in events if e.field == "isrc" and e.value == clip.record["isrc"]]
        if first is None and hit:
            first = hit[0]
    return per_block, first


def run(ctx: StepContext) -> dict[str, float]:
    import torch

    from soundsafe.watermark.checkpoint import load_model

    settings: dict[str, Any] = ctx.params["export"]
    torch.set_num_threads(1)  # the figures are one-core figures, for every engine
    model, origin = load_model(ctx.path("models/watermark/realtime/model.pt"))
    folder = ctx.path("models/onnx")
    export_onnx(model, folder, source=origin)
    engines: dict[str, Engine] = {
        "torch": TorchEngine(model, origin),
        "onnx_fp32": OnnxEngine(folder, threads=1, form="spectral"),
        "onnx_int8": OnnxEngine(folder, threads=1, precision="int8", form="spectral"),
        "onnx_fp32_graph": OnnxEngine(folder, threads=1, form="graph"),
    }
    clips = clips_from_manifest(ctx.path("data/validated") / MANIFEST_NAME, "test", settings["clip_seconds"],
                                settings["clips"])
    rows: dict[str, dict[str, list[float]]] = {name: {} for name in engines}
    per_block: list[float] = []
    first_isrc: list[float | None] = []
    for clip in clips:
        marked = {name: embed(clip.audio, clip.sr, clip.record, _KEY, e) for name, e in engines.items()}
        _, reference = _grid_stats(engines["torch"], marked["torch"], clip.sr, clip.record)
        # bits whose torch statistic is a near-tie (|s| < 0.1 × margin) may flip on rounding alone: not counted
        decisive = np.abs(reference) >= 0.1 * model.config.margin_db
        for name, engine in engines.items():
            row = rows[name]
            row.setdefault("max_abs_diff", []).append(float(np.abs(marked[name] - marked["torch"]).max()))
            row.setdefault("snr_db", []).append(snr_db(clip.audio, marked[name]))
            _, stats = _grid_stats(engine, marked["torch"], clip.sr, clip.record)
            agree = (stats > 0) == (reference > 0)
            row.setdefault("read_agreement", []).append(float(agree[decisive].mean()) if decisive.any() else 1.0)
            row.setdefault("max_stat_diff_db", []).append(float(np.abs(stats - reference).max()))
            row.setdefault("bit_acc.clean", []).append(_accuracy(engine, marked[name], clip.sr, clip.record))
            mp3 = apply_attack("mp3", marked[name], clip.sr, strength="128k", seed=0)
            row.setdefault("bit_acc.mp3_128k", []).append(_accuracy(engine, mp3, clip.sr, clip.record))
        mp3 = apply_attack("mp3", marked["onnx_fp32"], clip.sr, strength="128k", seed=0)
        blocks, first = _live(engines["onnx_fp32"], clip, mp3)
        per_block.extend(blocks)
        first_isrc.append(first)
    metrics: dict[str, float] = {}
    for name, row in rows.items():
        for metric, values in row.items():
            reduce = max if metric.startswith("max_") else statistics.mean
            metrics[f"{name}.{metric}"] = float(reduce(values))
        speed = _speed(engines[name], clips[0], settings["bench_seconds"], settings["repeats"])
        metrics.update({f"{name}.{k}": v for k, v in speed.items()})
    found = [t for t in first_isrc if t is not None]
    metrics.update({"stream.block_cpu_ms_median": 1000 * statistics.median(per_block),
                    "stream.block_cpu_ms_p95": 1000 * float(np.percentile(per_block, 95)),
                    "stream.isrc_rate_mp3_128k": len(found) / len(first_isrc),
                    "stream.isrc_seconds_median": statistics.median(found) if found else float("nan"),
                    "clips": float(len(clips))})
    table = ["engine," + ",".join(sorted({k.split(".", 1)[1] for k in metrics if k.startswith("torch.")}))]
    for name in engines:
        keys = sorted(k for k in metrics if k.startswith(f"{name}."))
        table.append(name + "," + ",".join(f"{metrics[k]:.6g}" for k in keys))
    write_text(ctx.path("reports/export/engines.csv"), "\n".join(table) + "\n")
    return metrics
