"""``embed`` and ``detect``: metadata record ⇄ watermarked audio, end to end through the payload codec.

Around the model (which sees mono 1 s chunks at 44.1 kHz): any rate is resampled in (and the mark resampled
back out, chunk by chunk), any channel count is mixed to mono for analysis and the same mark is added to every
channel, and audio is processed in batches of chunks so memory stays bounded. A tail shorter than a chunk stays
unmarked.

The embedder pushes every bit's statistic to at least ±margin, so on marked audio the statistics cluster at
two values ±a (however much an attack or a quiet band shrinks a), while on unmarked or misaligned audio they
scatter around 0 like noise. That shape (:func:`~soundsafe.watermark.sync.mark_strength`) is the detector's
sync and presence score: detection finds the chunk grid first (the frame
offset, 10 ms steps, with the best mean score over the first chunks), then reads each chunk where it should
be, searching ±2 frames when the chunk is not clearly marked there (which follows small drifts), keeps chunks
whose score shows a mark, and hands their LLRs to the payload decoder, whose packet tags are the final word on
what is real. Both functions are the streaming classes of :mod:`soundsafe.watermark.streaming` fed the whole
input at once, and run on torch or on the ONNX export (``model=`` an export folder).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from soundsafe.audio.checks import check_audio
from soundsafe.payload.keys import DEMO_KEY, PayloadKey
from soundsafe.payload.packets import CodeSettings
from soundsafe.watermark.engine import load_engine
from soundsafe.watermark.layout import carrier_layout
from soundsafe.watermark.speed import estimate_speed, estimate_tempo, undo_speed
from soundsafe.watermark.streaming import MARK_THRESHOLD, Detection, StreamingDetector, StreamingEmbedder

__all__ = ["OFFLINE_SYNC_CHUNKS", "Detection", "detect", "embed"]

OFFLINE_SYNC_CHUNKS = 8  # a whole file is at hand: average the grid search over up to 8 chunks
_SAME_TEMPO = 0.003  # tempos this close read the same (the tempo search's finest step is 0.25 %)


def embed(audio: np.ndarray, sr: int, metadata: Mapping[str, Any], key: PayloadKey = DEMO_KEY,
          model: Any = None, settings: CodeSettings | None = None, start_chunk: int = 0) -> np.ndarray:
    """Watermark ``audio`` ``(frames, channels)`` (or 1-D) with ``metadata`` under ``key``; same shape out.

    ``model``: a ``WatermarkModel``, a checkpoint path, an ONNX export folder, or None (the default model).
    ``start_chunk`` is the schedule position of the first chunk (to continue a stream). Raises ``RecordError`` /
    ``PayloadTooLargeError`` for bad metadata and ``AudioInputError`` for unusable audio.
    """
    x = check_audio(audio, sr, what="embed")
    embedder = StreamingEmbedder(metadata, sr, key, model, settings, start_chunk)
    out = np.concatenate([embedder.push(x), embedder.flush()])
    return out[:, 0] if np.asarray(audio).ndim == 1 else out


def detect(audio: np.ndarray, sr: int, key: PayloadKey = DEMO_KEY, model: Any = None,
           settings: CodeSettings | None = None, sync_chunks: int = OFFLINE_SYNC_CHUNKS,
           live: bool = False, speed_search: bool = False) -> Detection:
    """Read the watermark payload from ``audio`` (any rate, channels, length ≥ 1 chunk for a result).

    ``live=True`` also decodes while reading, so ``Detection.events`` say when each field would have been
    reported by a streaming detector (slower: many decodes instead of one). ``speed_search=True`` first finds
    how much the audio was sped up or slowed down (±5 %, :mod:`soundsafe.watermark.speed`; about 1 s more) and
    reads it with that undone; ``Detection.speed`` is the factor found, chunk times stay in the input's time.
    The factor that restores the pitch is also what a pitch shift (tempo kept, ±85 cents) needs, but undoing it
    by resampling stretches that audio's tempo, so a factor ≠ 1 is read twice, as a speed change and as a pitch
    shift (chunks ``factor`` × a chunk apart), and the better read is kept (``Detection.pitch_only``). The
    search then looks for a tempo change that kept the pitch (a time-stretch: :func:`~soundsafe.watermark.speed.
    estimate_tempo`) and, where one shows a clear mark, reads at it too (``Detection.tempo``).
    """
    x = check_audio(audio, sr, what="detect")
    engine = load_engine(model)
    factor, tempos = 1.0, [1.0]
    if speed_search:
        c = engine.config
        layout = carrier_layout(c, key.carrier_seed)
        mono = x.mean(axis=1)
        if sr != c.sample_rate:
            import soxr

            mono = soxr.resample(mono, sr, c.sample_rate, quality="HQ")
        factor = estimate_speed(mono, c, layout).factor
        x = undo_speed(x, sr, factor)
        if factor != 1.0:
            tempos.append(factor)  # a pitch shift: its tempo, stretched by the resampling that restored its pitch
        tempo = estimate_tempo(undo_speed(mono, c.sample_rate, factor), c, layout)
        if tempo.score >= MARK_THRESHOLD and min(abs(tempo.factor - t) for t in tempos) > _SAME_TEMPO:
            tempos.append(tempo.factor)  # a time-stretch (or a pitch shift's tempo, found more exactly)
    reads = [(_read(x, sr, key, engine, settings, sync_chunks, live, t), t) for t in tempos]
    found, chosen = max(reads, key=lambda read: _quality(read[0]))  # the first of equals: tempo 1 first
    found.speed, found.tempo = factor, chosen
    found.pitch_only = factor != 1.0 and abs(chosen - factor) <= _SAME_TEMPO
    if factor != 1.0:
        found.chunk_starts_s = [t / factor for t in found.chunk_starts_s]
        for event in found.events:
            event.time_s /= factor
    return found


def _read(x: np.ndarray, sr: int, key: PayloadKey, engine: Any, settings: CodeSettings | None, sync_chunks: int,
          live: bool, tempo: float) -> Detection:
    detector = StreamingDetector(sr, key, engine, settings, sync_chunks=sync_chunks, live=live, tempo=tempo)
    detector.push(x)
    return detector.finish()


def _quality(found: Detection) -> tuple[bool, int, float, float]:
    """Which of two reads of the same audio is better: the whole record, then more fields, then their summed
    confidence, then more chunks marked."""
    r = found.result
    return r.complete, len(r.fields), float(sum(r.confidence.values())), found.marked_fraction
