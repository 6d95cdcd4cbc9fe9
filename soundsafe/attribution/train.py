"""Training the generative models on marked or clean music: data, the pitch-shift augmentation, the loop.

Each model learns to re-synthesise random ``excerpt_s`` excerpts of its training tracks (the input is the
target: timbre transfer's training task). A marked model's tracks all carry the mark, as a catalogue marked
before release would. The pitch-shift augmentation resamples each excerpt by a random whole number of semitones
in ``±pitch_semitones`` (played at the same rate: pitch and tempo move together, as RAVE's augmentation does),
which also moves the echo's delay by the same ratio, the hard case for attribution.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from scipy.signal import resample_poly

from soundsafe.attribution.marks import EchoMark, apply_mark
from soundsafe.attribution.models import SAMPLE_RATE, ModelKind, build_model, spectral_loss
from soundsafe.progress import progress

__all__ = ["TrainResult", "generate", "pitch_views", "train_model"]

_SILENT_RMS = 10 ** (-45 / 20)


def pitch_views(audio: np.ndarray, semitones: int) -> list[np.ndarray]:
    """``audio`` resampled by every whole semitone in ``±semitones`` (0 included), for the augmentation."""
    views = []
    for s in range(-semitones, semitones + 1):
        ratio = Fraction(2 ** (-s / 12)).limit_denominator(64)  # fewer samples played at the same rate = higher
        views.append(audio if s == 0 else resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32))
    return views


@dataclass
class TrainResult:
    """A trained model, its loss per step, and the seconds each step took."""

    model: torch.nn.Module
    losses: list[float]
    seconds_per_step: float


def _batch(views: list[list[np.ndarray]], length: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    rows = []
    while len(rows) < size:
        track = views[int(rng.integers(len(views)))]
        audio = track[int(rng.integers(len(track)))]
        if audio.size <= length:
            continue
        start = int(rng.integers(0, audio.size - length))
        excerpt = audio[start: start + length]
        if math.sqrt(float((excerpt**2).mean())) > _SILENT_RMS:
            rows.append(excerpt)
    return torch.from_numpy(np.stack(rows))


def train_model(kind: ModelKind, tracks: list[np.ndarray], mark: EchoMark | None, *, steps: int, batch: int,
                excerpt_s: float, lr: float, seed: int, pitch_semitones: int = 0, kl_weight: float = 1e-3,
                label: str = "", log: Callable[[dict[str, float], int], None] | None = None) -> TrainResult:
    """Train a ``kind`` model from scratch on ``tracks`` marked with ``mark`` (clean when None)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    marked = [apply_mark(t, mark) if mark is not None else t for t in tracks]
    views = [pitch_views(t, pitch_semitones) for t in marked]
    model = build_model(kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    length = round(excerpt_s * SAMPLE_RATE)
    losses: list[float] = []
    started = time.perf_counter()
    model.train()
    for step in progress(range(steps), desc=f"train {label or kind}", unit="step"):
        x = _batch(views, length, batch, rng)
        y = model(x)
        loss = spectral_loss(y, x)
        if kind == "vae":
            loss = loss + kl_weight * model.kl  # per latent frame
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        if log is not None and (step % 25 == 0 or step == steps - 1):
            log({"loss": losses[-1]}, step)
    model.eval()
    return TrainResult(model, losses, (time.perf_counter() - started) / max(steps, 1))


@torch.no_grad()
def generate(model: torch.nn.Module, audio: np.ndarray, chunk_s: float = 5.0) -> np.ndarray:
    """The model's output for ``audio`` (mono, 44.1 kHz), in chunks of ``chunk_s`` seconds."""
    model.eval()
    n = round(chunk_s * SAMPLE_RATE)
    pieces = [model(torch.from_numpy(np.ascontiguousarray(audio[i: i + n]))[None])[0].numpy()
              for i in range(0, audio.size, n)]
    return np.concatenate(pieces).astype(np.float32)
