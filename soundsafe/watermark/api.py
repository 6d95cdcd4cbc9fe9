"""``embed`` and ``detect``: metadata record ⇄ watermarked audio, end to end through the payload codec.

Around the model (which sees mono 1 s chunks at 44.1 kHz): any rate is resampled in (and the mark resampled
back out), any channel count is mixed to mono for analysis and the same mark is added to every channel, and
audio is processed in batches of chunks so memory stays bounded. A tail shorter than a chunk stays unmarked.

The embedder pushes every bit's statistic to at least ±margin, while on unmarked or misaligned audio the
statistics scatter around 0 (about half of them reach 0.6 × margin by chance). So the share of bits that reach
0.6 × margin is the detector's sync and presence score: detection finds the chunk grid first (the frame
offset, 10 ms steps, with the best mean score over the first chunks), then reads each chunk with a ±2-frame
search around where it should be (which follows small drifts), keeps chunks whose score shows a mark, and hands
their LLRs to the payload decoder, whose packet tags are the final word on what is real.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from soundsafe.audio.checks import check_audio
from soundsafe.audio.io import resample
from soundsafe.payload.decoder import DecodeResult, decode_stream
from soundsafe.payload.keys import DEMO_KEY, PayloadKey
from soundsafe.payload.packets import CodeSettings, encode_payload
from soundsafe.watermark.checkpoint import load_model
from soundsafe.watermark.model import WatermarkModel

__all__ = ["Detection", "detect", "embed"]

_BATCH = 16  # chunks per model call: bounds memory on long files
_SYNC_CHUNKS = 8  # chunks used to find the grid
_REACH = 0.6  # a bit "reaches" when |statistic| ≥ this × margin: every bit of a marked chunk was pushed there
_MARK_THRESHOLD = 0.62  # share of reaching bits for a chunk to count as marked (unmarked audio: ~0.45)


def _model(model: WatermarkModel | str | None) -> WatermarkModel:
    return model if isinstance(model, WatermarkModel) else load_model(model)[0]


def _settings(model: WatermarkModel, settings: CodeSettings | None) -> CodeSettings:
    settings = settings or CodeSettings(packet_bits=model.config.bits)
    if settings.packet_bits != model.config.bits:
        raise ValueError(f"code settings carry {settings.packet_bits}-bit packets but the model carries "
                         f"{model.config.bits} bits per chunk")
    return settings


def embed(audio: np.ndarray, sr: int, metadata: Mapping[str, Any], key: PayloadKey = DEMO_KEY,
          model: WatermarkModel | str | None = None, settings: CodeSettings | None = None,
          start_chunk: int = 0) -> np.ndarray:
    """Watermark ``audio`` ``(frames, channels)`` (or 1-D) with ``metadata`` under ``key``; same shape out.

    ``start_chunk`` is the schedule position of the first chunk (to continue a stream). Raises ``RecordError`` /
    ``PayloadTooLargeError`` for bad metadata and ``AudioInputError`` for unusable audio.
    """
    net = _model(model)
    c = net.config
    x = check_audio(audio, sr, what="embed")
    encoded = encode_payload(dict(metadata), key, _settings(net, settings))
    mono = resample(x, sr, c.sample_rate).mean(axis=1)
    chunks = mono.shape[0] // c.chunk_samples
    mark = np.zeros_like(mono)
    if chunks:
        bits = torch.from_numpy(encoded.chunk_bits(chunks, start_chunk).astype(np.float32))
        with torch.no_grad():
            for first in range(0, chunks, _BATCH):
                last = min(first + _BATCH, chunks)
                host = torch.from_numpy(mono[first * c.chunk_samples: last * c.chunk_samples].astype(np.float32))
                host = host.reshape(last - first, c.chunk_samples)
                out = net.embed(host, bits[first:last], key.carrier_seed) - host
                mark[first * c.chunk_samples: last * c.chunk_samples] = out.reshape(-1).numpy()
    mark_at_sr = resample(mark[:, None].astype(np.float32), c.sample_rate, sr)[: x.shape[0], 0]
    mark_at_sr = np.pad(mark_at_sr, (0, x.shape[0] - mark_at_sr.shape[0]))
    out = (x + mark_at_sr[:, None]).astype(np.float32)
    return out[:, 0] if np.asarray(audio).ndim == 1 else out


@dataclass
class Detection:
    """What :func:`detect` found: decoded fields and where in the file the marked chunks start."""

    result: DecodeResult
    chunk_starts_s: list[float] = field(default_factory=list)  # every chunk read, marked or not
    marked: list[bool] = field(default_factory=list)
    strength: list[float] = field(default_factory=list)  # share of bits reaching 0.6 × margin, per chunk
    llr: np.ndarray | None = field(default=None, repr=False)  # (chunks, K) soft bits of every chunk read

    @property
    def marked_fraction(self) -> float:
        return float(np.mean(self.marked)) if self.marked else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "marked_fraction": round(self.marked_fraction, 3),
                "chunks": [{"start_s": round(t, 3), "marked": m, "strength": round(s, 3)}
                           for t, m, s in zip(self.chunk_starts_s, self.marked, self.strength, strict=True)]}


def _read_at(net: WatermarkModel, mono: torch.Tensor, starts: list[int], seed: int) -> torch.Tensor:
    """Per-bit statistics ``(len(starts), K)`` of the chunks starting at sample ``starts``."""
    n = net.config.chunk_samples
    out = []
    for first in range(0, len(starts), _BATCH * 4):
        batch = torch.stack([mono[s: s + n] for s in starts[first: first + _BATCH * 4]])
        out.append(net.statistics(batch, seed))
    return torch.cat(out) if out else torch.zeros(0, net.config.bits)


def _score(stats: torch.Tensor, margin: float) -> torch.Tensor:
    return (stats.abs() >= _REACH * margin).float().mean(-1)


def detect(audio: np.ndarray, sr: int, key: PayloadKey = DEMO_KEY, model: WatermarkModel | str | None = None,
           settings: CodeSettings | None = None) -> Detection:
    """Read the watermark payload from ``audio`` (any rate, channels, length ≥ 1 chunk for a result)."""
    net = _model(model)
    c = net.config
    settings = _settings(net, settings)
    x = check_audio(audio, sr, what="detect")
    mono = torch.from_numpy(resample(x, sr, c.sample_rate).mean(axis=1).astype(np.float32))
    n, hop = c.chunk_samples, c.hop
    if mono.numel() < n:
        return Detection(decode_stream([], key, settings), llr=np.zeros((0, c.bits)))
    with torch.no_grad():
        # leave a chunk of room so that every grid offset (0 … n − hop) is tried with the same number of chunks
        sync_chunks = max(1, min(_SYNC_CHUNKS, mono.numel() // n - 1))
        offsets = [o for o in range(0, n, hop) if o + sync_chunks * n <= mono.numel()]
        starts = [o + i * n for o in offsets for i in range(sync_chunks)]
        power = _score(_read_at(net, mono, starts, key.carrier_seed), c.margin_db).reshape(len(offsets), sync_chunks)
        position = offsets[int(torch.argmax(power.mean(-1)))]
        llrs, chunk_starts, marked, strengths, every = [], [], [], [], []
        scale = float(net.log_llr_scale.exp())
        while position + n <= mono.numel():
            candidates = [p for p in range(position - 2 * hop, position + 3 * hop, hop) if 0 <= p <= mono.numel() - n]
            stats = _read_at(net, mono, candidates, key.carrier_seed)
            score = _score(stats, c.margin_db)
            best = int(torch.argmax(score))
            position = candidates[best]
            strength = float(score[best])
            is_marked = strength >= _MARK_THRESHOLD
            every.append((stats[best] * scale).numpy().astype(np.float64))
            llrs.append(every[-1] if is_marked else None)
            chunk_starts.append(position / c.sample_rate)
            marked.append(is_marked)
            strengths.append(strength)
            position += n
    result = decode_stream([llrs], key, settings)
    return Detection(result, chunk_starts, marked, strengths, np.array(every).reshape(-1, c.bits))
