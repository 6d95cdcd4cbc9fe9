"""Additive noise at an exact signal-to-noise ratio: white, pink, and synthetic background ambience.

The SNR is measured over the whole clip (all channels): noise is scaled so that
``10·log10(Σ signal² / Σ noise²)`` equals the asked value exactly. Silent audio has no SNR: that is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import butter, sosfilt

from soundsafe.attacks.base import Attack, AttackInputError, Strength

__all__ = ["ATTACKS", "add_at_snr", "ambience", "colored_noise", "snr_db"]

SNR_LADDER = (40, 30, 20, 10, 5)  # AudioMarkBench's Gaussian/background-noise levels


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """SNR of ``noisy`` against ``clean`` in dB over the whole clip."""
    noise = np.sum((noisy.astype(np.float64) - clean) ** 2)
    return float(10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / max(noise, 1e-30)))


def add_at_snr(audio: np.ndarray, noise: np.ndarray, snr: float) -> np.ndarray:
    """``audio + g·noise`` with ``g`` chosen so the result's SNR is exactly ``snr`` dB."""
    p_signal = float(np.sum(audio.astype(np.float64) ** 2))
    p_noise = float(np.sum(noise.astype(np.float64) ** 2))
    if p_signal <= 0:
        raise AttackInputError("audio is silent: noise at a signal-to-noise ratio is undefined")
    if p_noise <= 0:
        raise AttackInputError("noise source is silent")
    gain = np.sqrt(p_signal / (p_noise * 10 ** (snr / 10)))
    return (audio.astype(np.float64) + gain * noise).astype(np.float32)


def colored_noise(shape: tuple[int, ...], exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with a power spectrum ∝ 1/f^exponent (0 white, 1 pink, 2 brown) along axis 0."""
    white = rng.standard_normal(shape)
    if exponent == 0:
        return white
    n = shape[0]
    spectrum = np.fft.rfft(white, axis=0)
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    shaping = freqs ** (-exponent / 2)
    return np.fft.irfft(spectrum * shaping.reshape((-1,) + (1,) * (len(shape) - 1)), n=n, axis=0)


def ambience(frames: int, channels: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Synthetic background: traffic-like rumble with slow swells, mains hum with harmonics, and room air."""
    t = np.arange(frames) / sr
    rumble = sosfilt(butter(2, min(250.0, 0.45 * sr), fs=sr, output="sos"), colored_noise((frames, channels), 2, rng),
                     axis=0)
    rumble /= np.std(rumble) + 1e-12
    swell = 1 + 0.6 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 2 * np.pi))
    mains = rng.choice([50.0, 60.0])
    hum = sum(np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3, 5) if
              mains * k < sr / 2)
    air = colored_noise((frames, channels), 1, rng)
    air /= np.std(air) + 1e-12
    weights = rng.dirichlet([2.0, 1.0, 2.0])
    return weights[0] * rumble * swell[:, None] + weights[1] * np.asarray(hum)[:, None] + weights[2] * air


def _noise_eval(kind: str):
    def run(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
        if kind == "background":
            noise = ambience(audio.shape[0], audio.shape[1], sr, rng)
        else:
            noise = colored_noise(audio.shape, {"white": 0.0, "pink": 1.0}[kind], rng)
        return add_at_snr(audio, noise, params["snr_db"])
    return run


def torch_add_at_snr(x: Any, noise: Any, snr: float) -> Any:
    """Training form: per batch item, add ``noise`` scaled to ``snr`` dB against that item's power."""
    import torch

    dims = tuple(range(1, x.dim()))
    p_signal = x.detach().pow(2).sum(dim=dims, keepdim=True).clamp_min(1e-12)
    p_noise = noise.pow(2).sum(dim=dims, keepdim=True).clamp_min(1e-12)
    return x + torch.sqrt(p_signal / (p_noise * 10 ** (snr / 10))) * noise


def _noise_train(kind: str):
    def run(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
        import torch

        if kind == "white":
            noise = torch.randn(x.shape, generator=generator, device="cpu").to(x)
        else:
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
            rng = np.random.default_rng(seed)
            if kind == "pink":
                noise_np = colored_noise((x.shape[-1], *x.shape[:-1]), 1.0, rng)
            else:
                flat = ambience(x.shape[-1], int(np.prod(x.shape[:-1])), sr, rng)
                noise_np = flat.reshape(x.shape[-1], *x.shape[:-1])
            noise = torch.from_numpy(np.moveaxis(noise_np, 0, -1).astype(np.float32)).to(x)
        return torch_add_at_snr(x, noise, params["snr_db"])
    return run


def _noise(name: str, kind: str, summary: str) -> Attack:
    return Attack(name=name, family="noise", summary=summary,
                  strengths=tuple(Strength(f"{s}dB", {"snr_db": float(s)}) for s in SNR_LADDER), default="20dB",
                  evaluate=_noise_eval(kind), train=_noise_train(kind), train_mode="differentiable",
                  source="AudioMarkBench noise levels (SNR 40, 30, 20, 10, 5 dB)", tags=frozenset({"noise"}))


ATTACKS = (
    _noise("white_noise", "white", "white Gaussian noise at an exact SNR"),
    _noise("pink_noise", "pink", "pink (1/f) noise at an exact SNR"),
    _noise("background", "background", "synthetic background ambience (rumble, mains hum, room air) at an exact SNR"),
)
