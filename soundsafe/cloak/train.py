"""Training a generative model on (cloaked or clean) music and measuring what it learned.

The log-mel frames of every training track are computed once; training draws random ``crop_frames`` excerpts.
The held-out loss is the model's training loss on fixed excerpts of clean held-out music (the diffusion loss with
a fixed noise draw), every ``eval_every`` steps: the loss curve. What the model generates is compared with real
held-out frames by the Fréchet distance between Gaussian fits of the 64-band frames (a "log-mel embedding").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import linalg

from soundsafe.cloak.models import ModelKind, build_model, log_mel
from soundsafe.progress import progress

__all__ = ["TrainedModel", "frechet_distance", "mel_frames", "train_generative"]


def mel_frames(tracks: list[np.ndarray]) -> list[torch.Tensor]:
    """Each track's log-mel frames ``(frames, 64)``, without gradient."""
    with torch.no_grad():
        return [log_mel(torch.from_numpy(np.ascontiguousarray(t, dtype=np.float32))[None])[0] for t in tracks]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two frame sets ``(n, d)``."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * np.real(root)))


@dataclass
class TrainedModel:
    """A model trained on one version of the data, its losses and its samples' distance to real music."""

    model: torch.nn.Module
    train_loss: list[float] = field(default_factory=list)
    heldout_curve: list[tuple[int, float]] = field(default_factory=list)
    frechet: float = float("nan")

    @property
    def heldout_loss(self) -> float:
        return self.heldout_curve[-1][1]


def _crops(frames: list[torch.Tensor], length: int, batch: int, rng: np.random.Generator) -> torch.Tensor:
    rows = []
    for _ in range(batch):
        f = frames[int(rng.integers(len(frames)))]
        start = int(rng.integers(0, max(f.shape[0] - length, 0) + 1))
        rows.append(f[start: start + length])
    return torch.stack(rows)


def _heldout(model: torch.nn.Module, heldout: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        torch.manual_seed(1234)
        value = float(model.loss(heldout))
    model.train()
    return value


def train_generative(kind: ModelKind, frames: list[torch.Tensor], heldout: torch.Tensor, *, steps: int,
                     batch: int, crop_frames: int, lr: float, seed: int, eval_every: int, sample_count: int = 8,
                     label: str = "") -> TrainedModel:
    """Train a fresh ``kind`` model on ``frames``; ``heldout`` ``(n, crop_frames, 64)`` are clean held-out crops."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    out = TrainedModel(model)
    model.train()
    for step in progress(range(steps), desc=f"train {label or kind}", unit="step"):
        loss = model.loss(_crops(frames, crop_frames, batch, rng))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        out.train_loss.append(float(loss.detach()))
        if (step + 1) % eval_every == 0 or step == steps - 1:
            out.heldout_curve.append((step + 1, _heldout(model, heldout)))
    model.eval()
    generated = model.sample(sample_count, crop_frames, torch.Generator().manual_seed(seed))
    out.frechet = frechet_distance(generated.reshape(-1, generated.shape[-1]).numpy(),
                                   heldout.reshape(-1, heldout.shape[-1]).numpy())
    return out
