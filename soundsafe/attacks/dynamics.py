"""Dynamics: compressor and limiter (pedalboard's JUCE processors), hard and soft clipping.

Training forms: a feed-forward compressor with a linked-channel RMS detector, a soft-knee gain computer and
smoothed gain (differentiable everywhere); clipping as clamp/tanh. Clipping levels are relative to the clip's
peak, so a strength means the same thing on loud and quiet masters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from soundsafe.attacks.base import Attack, Strength

__all__ = ["ATTACKS", "torch_compressor"]


def _pedalboard(audio: np.ndarray, sr: int, plugin: Any) -> np.ndarray:
    out = plugin(np.ascontiguousarray(audio.T), sr)
    return np.ascontiguousarray(out.T).astype(np.float32)


def _compressor_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    from pedalboard import Compressor

    return _pedalboard(audio, sr, Compressor(threshold_db=params["threshold_db"], ratio=params["ratio"],
                                             attack_ms=params["attack_ms"], release_ms=params["release_ms"]))


def _limiter_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    from pedalboard import Limiter

    return _pedalboard(audio, sr, Limiter(threshold_db=params["threshold_db"], release_ms=params["release_ms"]))


def torch_compressor(x: Any, sr: int, threshold_db: float, ratio: float, attack_ms: float, release_ms: float,
                     knee_db: float = 6.0) -> Any:
    """Differentiable compressor over ``(B, C, T)``: RMS detector (attack window), soft knee, smoothed gain."""
    import torch
    import torch.nn.functional as F

    def smooth(signal: Any, ms: float) -> Any:
        """Centred moving average over ``ms`` by a running sum: O(T) whatever the window."""
        half = max(1, int(sr * ms / 1000)) // 2
        padded = F.pad(signal, (half + 1, half), mode="replicate")
        total = torch.cumsum(padded, dim=-1)
        return (total[..., 2 * half + 1:] - total[..., : -2 * half - 1]) / (2 * half + 1)

    power = smooth(x.pow(2).mean(dim=1, keepdim=True), attack_ms)
    level = 10 * torch.log10(power.clamp_min(1e-10))
    over = level - threshold_db
    slope = 1 - 1 / ratio
    knee = torch.clamp(over + knee_db / 2, min=0.0, max=knee_db)
    gain_db = -slope * torch.where(over > knee_db / 2, over, knee.pow(2) / (2 * knee_db))
    gain = 10 ** (smooth(gain_db, release_ms) / 20)
    return x * gain


def _compressor_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    return torch_compressor(x, sr, **params)


def _limiter_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    return torch_compressor(x, sr, params["threshold_db"], 20.0, 1.0, params["release_ms"], knee_db=2.0)


def _peak(audio: np.ndarray) -> float:
    return float(np.max(np.abs(audio))) or 1.0


def _hard_clip_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    level = _peak(audio) * 10 ** (-params["below_peak_db"] / 20)
    return np.clip(audio, -level, level)


def _hard_clip_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    dims = tuple(range(1, x.dim()))
    level = x.detach().abs().amax(dim=dims, keepdim=True).clamp_min(1e-6) * 10 ** (-params["below_peak_db"] / 20)
    return x.clamp(-level, level)


def _soft_clip_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    peak, drive = _peak(audio), 10 ** (params["drive_db"] / 20)
    return (peak * np.tanh(drive * audio / peak) / np.tanh(drive)).astype(np.float32)


def _soft_clip_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    import torch

    dims = tuple(range(1, x.dim()))
    peak = x.detach().abs().amax(dim=dims, keepdim=True).clamp_min(1e-6)
    drive = 10 ** (params["drive_db"] / 20)
    return peak * torch.tanh(drive * x / peak) / float(np.tanh(drive))


_COMPRESSOR = (("gentle", -18.0, 2.0), ("medium", -24.0, 4.0), ("heavy", -30.0, 8.0), ("brutal", -36.0, 20.0))

ATTACKS = (
    Attack(name="compressor", family="dynamics", summary="feed-forward compressor (threshold dBFS, ratio)",
           strengths=tuple(Strength(n, {"threshold_db": t, "ratio": r, "attack_ms": 5.0, "release_ms": 100.0})
                           for n, t, r in _COMPRESSOR),
           default="medium", evaluate=_compressor_eval, train=_compressor_train, train_mode="differentiable",
           source="broadcast/mastering settings"),
    Attack(name="limiter", family="dynamics", summary="brickwall-style limiter at a threshold (dBFS)",
           strengths=tuple(Strength(f"{t}dB", {"threshold_db": float(t), "release_ms": 100.0})
                           for t in (-1, -3, -6, -10)),
           default="-3dB", evaluate=_limiter_eval, train=_limiter_train, train_mode="differentiable",
           source="loudness-war mastering levels"),
    Attack(name="hard_clip", family="dynamics", summary="hard clipping at a level below the clip's peak",
           strengths=tuple(Strength(f"-{d}dB", {"below_peak_db": float(d)}) for d in (1, 3, 6, 10)),
           default="-3dB", evaluate=_hard_clip_eval, train=_hard_clip_train, train_mode="differentiable",
           source="overdriven converters and careless gain staging"),
    Attack(name="soft_clip", family="dynamics", summary="tanh saturation with a drive (peak kept)",
           strengths=tuple(Strength(f"{d}dB", {"drive_db": float(d)}) for d in (3, 6, 12, 20)),
           default="6dB", evaluate=_soft_clip_eval, train=_soft_clip_train, train_mode="differentiable",
           source="tape/tube-style saturation"),
)
