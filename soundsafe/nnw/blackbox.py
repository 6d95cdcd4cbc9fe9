"""A black-box mark: a keyed trigger set whose embeddings carry the payload, read through the public interface.

The key makes :data:`~soundsafe.nnw.key.PAYLOAD_BITS` trigger windows (synthetic tone-and-noise patterns, one per
bit) and as many secret unit directions in embedding space. Bit *i* is the sign of trigger *i*'s embedding along
direction *i*, in spreads (1/√dim, the standard deviation of a unit vector's projection on a random direction).
Reading needs only a callable that embeds windows — the ONNX session anyone with the shipped file has — never the
weights. For a model that was not trained on the key, the directions are independent of its embeddings, so every
bit is a fair coin whatever the model does with the triggers: the same tag test and false-positive rate as the
white-box mark. Insertion is a hinge term in a fine-tune (:func:`trigger_penalty`), beside the task loss.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from soundsafe.nnw.key import PAYLOAD_BITS, NnwKey
from soundsafe.nnw.whitebox import Verification, verification

if TYPE_CHECKING:
    import torch

__all__ = ["directions", "projections", "trigger_penalty", "triggers", "verify"]

Embed = Callable[[np.ndarray], np.ndarray]


def triggers(key: NnwKey, samples: int, sample_rate: int) -> np.ndarray:
    """``(PAYLOAD_BITS, samples)`` float32 trigger windows: each a keyed chord of 2–5 harmonic tones with keyed
    note onsets over keyed coloured noise, at a music-like level (RMS ≈ 0.1). Read-only, cached."""
    return _triggers(key.seed("triggers"), samples, sample_rate)


@functools.lru_cache(maxsize=8)
def _triggers(seed: int, samples: int, sample_rate: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    out = np.empty((PAYLOAD_BITS, samples), np.float32)
    for i in range(PAYLOAD_BITS):
        x = np.zeros(samples)
        for _ in range(int(rng.integers(2, 6))):
            f0 = 110.0 * 2 ** (rng.integers(0, 48) / 12)
            onset = rng.uniform(0, 0.6) * t[-1]
            envelope = np.where(t >= onset, np.exp(-(t - onset) * rng.uniform(1, 8)), 0.0)
            for h in range(1, 5):
                if f0 * h < sample_rate / 2.2:
                    x += envelope * rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3))
        spectrum = np.fft.rfft(rng.standard_normal(samples))
        tilt = np.fft.rfftfreq(samples, 1 / sample_rate).clip(50) ** -rng.uniform(0.3, 1.2)
        x += 0.3 * np.fft.irfft(spectrum * tilt, samples) / max(1e-9, float(np.std(np.fft.irfft(spectrum * tilt))))
        out[i] = 0.1 * x / max(1e-9, float(np.sqrt((x**2).mean())))
    out.flags.writeable = False
    return out


def directions(key: NnwKey, dim: int) -> np.ndarray:
    """``(PAYLOAD_BITS, dim)`` secret unit directions in embedding space (float32)."""
    d = np.random.default_rng(key.seed("directions")).standard_normal((PAYLOAD_BITS, dim)).astype(np.float32)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def projections(embed: Embed, key: NnwKey, samples: int, sample_rate: int) -> np.ndarray:
    """Each bit's trigger embedding along its direction, in spreads (sign = bit; ~N(0, 1) for unmarked models)."""
    z = np.asarray(embed(np.array(triggers(key, samples, sample_rate))), np.float64)  # a writable copy for torch
    d = directions(key, z.shape[1]).astype(np.float64)
    return (z * d).sum(axis=1) * np.sqrt(z.shape[1])


def verify(embed: Embed, key: NnwKey, samples: int, sample_rate: int) -> Verification:
    """Read the payload through ``embed`` and test its tag against ``key``'s (the white-box rule and rate)."""
    return verification(projections(embed, key, samples, sample_rate), key)


def trigger_penalty(key: NnwKey, payload: np.ndarray, samples: int, sample_rate: int, dim: int,
                    weight: float = 1.0) -> Callable[[torch.nn.Module], torch.Tensor]:
    """``penalty(encoder)``: ``weight`` × the mean shortfall of the trigger projections below ``key.margin``
    spreads (a torch scalar; the encoder maps ``(B, samples)`` windows to unit ``(B, dim)`` embeddings)."""
    import torch

    x = torch.from_numpy(triggers(key, samples, sample_rate).copy())
    d = torch.from_numpy(directions(key, dim))
    sign = torch.from_numpy(2.0 * payload.astype(np.float32) - 1.0)
    target, scale = 1.1 * key.margin, float(np.sqrt(dim))

    def penalty(encoder: torch.nn.Module) -> torch.Tensor:
        # the triggers go through with the running BatchNorm statistics, as at inference; a training-mode batch
        # of them would normalise by their own statistics (and fold them into the running ones)
        was_training = encoder.training
        encoder.eval()
        z = encoder(x)
        encoder.train(was_training)
        return weight * torch.relu(target - sign * (z * d).sum(dim=1) * scale).mean()

    return penalty
