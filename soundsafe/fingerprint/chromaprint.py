"""Chromaprint side by side: ``fpcalc -raw`` sub-fingerprints and a documented matcher over them.

Chromaprint (Debian's ``libchromaprint-tools``, installed by the project's set-up) turns audio into 32-bit
sub-fingerprints about 8 per second. The matcher slides a query's sequence over each catalog track's, scores an
offset by its bit error rate (popcount of XOR over the overlap; the query must overlap entirely), and
ranks tracks by 1 − their best bit error rate; ~0.65 and above is a confident match (unrelated audio sits near
0.5). A query too short for Chromaprint to fingerprint gets no ranking at all, which counts as a miss.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["ChromaprintCatalog", "ChromaprintMissing", "fpcalc_raw"]

_INSTALL = "install Chromaprint's fpcalc: `apt-get install libchromaprint-tools` (the Makefile does this)"


class ChromaprintMissing(RuntimeError):
    """``fpcalc`` is not installed."""


def fpcalc_raw(audio: np.ndarray, sr: int) -> np.ndarray:
    """Raw Chromaprint sub-fingerprints (uint32) of ``audio`` (mono or ``(frames, channels)``); may be empty."""
    exe = shutil.which("fpcalc")
    if exe is None:
        raise ChromaprintMissing(f"fpcalc not found on PATH; {_INSTALL}")
    with tempfile.TemporaryDirectory(prefix="soundsafe-fpcalc-") as tmp:
        path = Path(tmp) / "query.wav"
        sf.write(path, np.clip(audio, -1, 1), sr, subtype="PCM_16")
        out = subprocess.run([exe, "-raw", "-plain", "-length", "0", str(path)], capture_output=True, text=True)
    # fpcalc 1.5 exits non-zero with "Error decoding audio frame (End of file)" after printing a good fingerprint
    # of a WAV; what counts is whether it printed one
    text = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    if not text or not text.replace(",", "").isdigit():
        return np.zeros(0, np.uint32)  # too short (or silent) to fingerprint
    return np.array([int(v) for v in text.split(",")], dtype=np.int64).astype(np.uint32)


def _best_similarity(query: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    """1 − the lowest bit error rate over offsets where the shorter sequence overlaps entirely, and that offset
    (partial overlaps of a few items at the edges score high by chance). Offset = ref index − query index; the
    first best offset in increasing order wins a tie."""
    m, n = query.size, ref.size
    need = min(m, n)
    if need == 0:
        return 0.0, 0
    if m <= n:  # the query slides along the reference: offsets 0 … n − m
        errors = np.bitwise_count(sliding_window_view(ref, m) ^ query).sum(axis=1)
        offsets = np.arange(n - m + 1)
    else:  # the reference slides along the query: offsets −(m − n) … 0
        errors = np.bitwise_count(sliding_window_view(query, n)[::-1] ^ ref).sum(axis=1)
        offsets = np.arange(-(m - n), 1)
    similarity = 1.0 - errors / (32.0 * need)
    best = int(np.argmax(similarity))
    if similarity[best] <= 0.0:
        return 0.0, 0
    return float(similarity[best]), int(offsets[best])


class ChromaprintCatalog:
    """Reference sub-fingerprints of catalog tracks, and ranking of a query against them."""

    ITEM_SECONDS = 4096 / 3 / 11025  # Chromaprint's hop: a third of a 4096-sample frame at 11,025 Hz

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.prints: list[np.ndarray] = []

    def add(self, track_id: str, audio: np.ndarray, sr: int) -> None:
        self.ids.append(track_id)
        self.prints.append(fpcalc_raw(audio, sr))

    def rank(self, audio: np.ndarray, sr: int) -> list[tuple[str, float, float]]:
        """``[(track, similarity, offset_s)]`` best first; empty when the query yields no fingerprint."""
        query = fpcalc_raw(audio, sr)
        if query.size == 0:
            return []
        scored = [(tid, *_best_similarity(query, ref)) for tid, ref in zip(self.ids, self.prints, strict=True)
                  if ref.size]
        return [(tid, s, max(0, o) * self.ITEM_SECONDS) for tid, s, o in sorted(scored, key=lambda x: -x[1])]
