"""The fingerprint encoder: log-mel → small CNN → L2-normalised embedding; checkpoints and a pure factory.

The front end is part of the module (framing + ``rfft`` from the watermark's exportable STFT, a mel matrix,
log, per-window mean removal so gain does not matter), so the ONNX export takes raw 16 kHz windows. Four
conv blocks (conv 3×3, batch norm, ReLU, 2×2 max-pool) end in mean + max pooling over time and frequency and a
linear projection; ~0.1 M parameters, a few MFLOP per window.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from soundsafe.atomic import atomic_path
from soundsafe.checksum import sha256_file
from soundsafe.fingerprint.config import FingerprintConfig
from soundsafe.watermark.spectral import stft

__all__ = ["FingerprintEncoder", "build_encoder", "load_encoder", "save_encoder"]


def _mel_matrix(c: FingerprintConfig) -> torch.Tensor:
    import torchaudio

    return torchaudio.functional.melscale_fbanks(c.n_fft // 2 + 1, c.f_min, c.f_max, c.mels, c.sample_rate,
                                                 norm="slaney", mel_scale="slaney")


class FingerprintEncoder(nn.Module):
    """Windows ``(B, samples)`` at ``config.sample_rate`` → embeddings ``(B, dim)`` of unit length."""

    def __init__(self, config: FingerprintConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.register_buffer("mel", _mel_matrix(config), persistent=False)
        blocks, width = [], 1
        for out in config.channels:
            blocks += [nn.Conv2d(width, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                       nn.MaxPool2d(2, ceil_mode=True)]
            width = out
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * width, config.dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Log-mel ``(B, 1, mels, frames)``, each window's mean removed (level-invariant)."""
        spec = stft(x, self.config.n_fft, self.config.hop, self.window)
        power = spec.real.pow(2) + spec.imag.pow(2)
        logmel = torch.log((power @ self.mel).clamp_min(1e-8)).transpose(1, 2)  # (ORT dropped a "+ 1e-8")
        return (logmel - logmel.mean(dim=(1, 2), keepdim=True))[:, None] / 4.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(self.features(x))
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return F.normalize(self.head(pooled), dim=-1)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_encoder(config: FingerprintConfig | None = None) -> FingerprintEncoder:
    """A fresh encoder for ``config`` (defaults: 1 s windows at 16 kHz, 128-d embeddings)."""
    return FingerprintEncoder(config or FingerprintConfig())


def save_encoder(path: str | os.PathLike[str], encoder: FingerprintEncoder, **extra: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save({"config": encoder.config.to_dict(), "state": encoder.state_dict(), **extra}, tmp)


def load_encoder(path: str | os.PathLike[str]) -> FingerprintEncoder:
    """The encoder at ``path`` in eval mode (a clear error when the file is missing or not an encoder), with its
    ``id`` (the checkpoint's SHA-256 prefix)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no fingerprint model here (train one: `soundsafe step fingerprint_train`)")
    data = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(data, dict) or "config" not in data or "state" not in data or "mels" not in data["config"]:
        raise ValueError(f"{path}: not a SoundSafe fingerprint model")
    encoder = build_encoder(FingerprintConfig.from_dict(data["config"]))
    encoder.load_state_dict(data["state"])
    encoder.id = sha256_file(path)[:12]  # recorded by an index, so queries use the catalog's encoder
    return encoder.eval()
