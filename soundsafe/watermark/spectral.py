"""STFT and inverse STFT from framing, ``rfft``/``irfft`` and overlap-add by shifted slices.

They compute what ``torch.stft``/``torch.istft`` compute (Hann window, ``center=True`` with reflect padding; the
inverse divides by the summed squared window), but from operations that export to ONNX as plain ``DFT``,
``Gather``/``Slice`` and ``Add`` nodes, so the exported embedder and detector run the same arithmetic as torch
(and ONNX Runtime's ``DFT`` is faster than its ``STFT`` kernel). Spectra are ``(B, frames, bins)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["istft", "ola_envelope", "stft"]


def stft(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """Complex spectrum ``(B, 1 + len // hop, n_fft // 2 + 1)`` of ``(B, samples)``; frame t centred at t·hop."""
    padded = F.pad(x[:, None], (n_fft // 2, n_fft // 2), mode="reflect")[:, 0]
    frames = padded.unfold(-1, n_fft, hop)
    return torch.fft.rfft(frames * window, dim=-1)


def _overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Sum frames ``(B, T, n)`` placed every ``hop`` samples: ``(B, (T − 1)·hop + n)`` (rounded up to hops)."""
    b, t, n = frames.shape
    segments = math.ceil(n / hop)
    parts = F.pad(frames, (0, segments * hop - n)).reshape(b, t, segments, hop)
    # segment s of frame i lands on output block i + s: shift each segment column by s blocks and add
    out = sum(F.pad(parts[:, :, s], (0, 0, s, segments - 1 - s)) for s in range(segments))
    return out.reshape(b, (t + segments - 1) * hop)


def ola_envelope(frames: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """The summed squared window of ``frames`` frames, ``(1, samples)``: what :func:`istft` divides by."""
    return _overlap_add((window * window).expand(1, frames, window.shape[0]), hop)


def istft(spec: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor, length: int,
          envelope: torch.Tensor | None = None) -> torch.Tensor:
    """Inverse of :func:`stft` (least-squares overlap-add), trimmed to ``length`` samples. ``envelope``: the
    precomputed :func:`ola_envelope` for this frame count (saves a tenth of an embedding pass)."""
    frames = torch.fft.irfft(spec, n=n_fft, dim=-1) * window
    signal = _overlap_add(frames, hop)
    if envelope is None or envelope.shape[-1] != signal.shape[-1]:
        envelope = ola_envelope(spec.shape[1], hop, window)
    start = n_fft // 2
    return signal[:, start: start + length] / envelope[:, start: start + length].clamp_min(1e-11)
