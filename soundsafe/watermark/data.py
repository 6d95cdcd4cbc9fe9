"""Training data: mono 1 s chunks from a manifest split, and the bits the model must carry.

Audio of one split is loaded once (mono mix, 44.1 kHz) into a bank; batches are random windows of it, silent
windows skipped. Bits come from real rights records: each record of the manifest is encoded by the payload
codec under a random key into one schedule cycle of K-bit chunk words, whose first half is the core layer and the
second the data layer; the ``core`` phase's loss counts the core layer only (see ``train._bit_weights``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from soundsafe.audio.io import read_audio, resample
from soundsafe.manifest import audio_path, read_manifest
from soundsafe.payload.keys import PayloadKey
from soundsafe.payload.packets import CodeSettings, encode_payload

__all__ = ["AudioBank", "PacketBank", "load_bank"]

_SILENT_RMS = 10 ** (-50 / 20)


@dataclass
class AudioBank:
    """Mono audio of one split, concatenated; ``starts`` are window starts that are not silent."""

    audio: torch.Tensor
    sample_rate: int
    tracks: int

    def windows(self, count: int, length: int, rng: np.random.Generator) -> torch.Tensor:
        """``count`` random non-silent windows of ``length`` samples, ``(count, length)``."""
        if self.audio.numel() < length:
            raise ValueError(f"split has {self.audio.numel() / self.sample_rate:.1f} s of audio; "
                             f"need at least {length / self.sample_rate:.1f} s")
        out = []
        for _ in range(count * 20):
            start = int(rng.integers(0, self.audio.numel() - length + 1))
            window = self.audio[start: start + length]
            if float(window.pow(2).mean().sqrt()) > _SILENT_RMS:
                out.append(window)
                if len(out) == count:
                    return torch.stack(out)
        raise ValueError("the split is (nearly) silent: no audible windows found")


def load_bank(manifest: Path, split: str, sample_rate: int, max_seconds: float | None = None) -> AudioBank:
    """Mono mix of every track of ``split`` (resampled to ``sample_rate``), up to ``max_seconds`` in all."""
    df = read_manifest(manifest)
    rows = df[df["split"] == split]
    if rows.empty:
        raise ValueError(f"{manifest}: no tracks in split {split!r} (splits: {sorted(df['split'].unique())})")
    parts, total = [], 0
    for rel in rows["path"]:
        audio, sr = read_audio(audio_path(manifest, rel))
        mono = resample(audio, sr, sample_rate).mean(axis=1)
        parts.append(mono)
        total += mono.size
        if max_seconds is not None and total >= max_seconds * sample_rate:
            break
    return AudioBank(torch.from_numpy(np.concatenate(parts).astype(np.float32)), sample_rate, len(parts))


class PacketBank:
    """K-bit chunk words of real records (one cycle each, under random keys); the first ``core_bits`` columns of
    every word are its core layer, the rest its data layer (:mod:`soundsafe.payload.packets`)."""

    def __init__(self, manifest: Path, bits: int, seed: int = 0, max_records: int = 64) -> None:
        df = read_manifest(manifest)
        records = [json.loads(m) for m in df["metadata"] if isinstance(m, str) and m.strip()][:max_records]
        if not records:
            raise ValueError(f"{manifest}: no metadata records to draw packets from")
        settings = CodeSettings(packet_bits=bits)
        rng = np.random.default_rng(seed)
        words = [encode_payload(record, PayloadKey(rng.bytes(32)), settings) for record in records]
        self.words = torch.from_numpy(np.concatenate([e.chunk_bits(e.cycle_chunks) for e in words]).astype(np.float32))
        self.core_bits = settings.core_layer_bits
        self.records = len(records)

    def draw(self, count: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(count, K)`` bits (0/1) and the ``(count, K)`` mask of their core-layer bits."""
        picks = torch.from_numpy(rng.integers(0, len(self.words), count))
        mask = torch.zeros(count, self.words.shape[1], dtype=torch.bool)
        mask[:, : self.core_bits] = True
        return self.words[picks], mask
