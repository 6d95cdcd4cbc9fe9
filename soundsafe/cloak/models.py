"""Small generative models over log-mel frames (44.1 kHz, 2,048-point frames, hop 512, 64 mel bands, in
normalised dB): what the cloak is optimised against (surrogates) and what the evaluation trains fresh.

The log-mel has the usual floor: each excerpt's power is clamped at its loudest band-frame − ``TOP_DB`` (80 dB, as
librosa's ``power_to_db`` and Whisper do). Without it a model would see digital silence at −80 dB re full power
and a cloak could "fill" such bins with inaudible noise (+50 dB in the log domain): a change of representation a
real training pipeline does not see.

- ``ar``: an autoregressive model over frames, causal dilated convolutions predicting frame t + 1 from frames ≤ t
  (L1): the frame-level analogue of a token language model such as MusicGen's.
- ``diffusion``: a denoising diffusion model over 64 × 32 patches (a small 2-D conv net told the noise level;
  ε-prediction loss at a random level of a cosine schedule; DDPM sampling).
- ``transformer``: a causal Transformer (2 layers, 4 heads, d = 128) predicting the next frame; the evaluation's
  unseen architecture (no cloak is ever optimised against it).

Each model has ``loss(mel)`` for a batch ``(B, frames, 64)`` and ``sample(batch, frames, generator)``.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["KINDS", "MEL_BANDS", "TOP_DB", "ModelKind", "build_model", "log_mel"]

SAMPLE_RATE = 44100
MEL_BANDS = 64
TOP_DB = 80.0
ModelKind = Literal["ar", "diffusion", "transformer"]
KINDS: tuple[ModelKind, ...] = ("ar", "diffusion", "transformer")
_MEL: dict[str, nn.Module] = {}


def log_mel(audio: torch.Tensor, top_db: float = TOP_DB) -> torch.Tensor:
    """``(B, samples)`` → ``(B, frames, 64)``: log-mel power in dB / 20 (real music: mean about 0, std about 1),
    floored per excerpt at its maximum − ``top_db``; differentiable in ``audio`` (the cloak's gradient flows
    through it)."""
    import torchaudio

    if "mel" not in _MEL:
        _MEL["mel"] = torchaudio.transforms.MelSpectrogram(SAMPLE_RATE, n_fft=2048, hop_length=512,
                                                           n_mels=MEL_BANDS, f_max=16000.0)
    power = _MEL["mel"].to(audio.device)(audio) + 1e-10
    floor = power.detach().amax(dim=(-2, -1), keepdim=True) * 10 ** (-top_db / 10)
    power = torch.maximum(power, floor)
    return (10 * torch.log10(power) / 20.0).transpose(1, 2)


class _Causal(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.pad = 2 * dilation
        self.conv = nn.Conv1d(channels, 2 * channels, 3, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(F.pad(x, (self.pad, 0))).chunk(2, 1)
        return x + torch.tanh(a) * torch.sigmoid(b)


class FrameAR(nn.Module):
    """Causal dilated convolutions (receptive field 61 frames, 0.7 s) → the next frame."""

    def __init__(self, channels: int = 128) -> None:
        super().__init__()
        self.inp = nn.Conv1d(MEL_BANDS, channels, 1)
        self.body = nn.Sequential(*[_Causal(channels, d) for d in (1, 2, 4, 8, 16, 1)])
        self.out = nn.Conv1d(channels, MEL_BANDS, 1)

    def predict(self, mel: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(self.inp(mel.transpose(1, 2)))).transpose(1, 2)

    def loss(self, mel: torch.Tensor) -> torch.Tensor:
        return (self.predict(mel[:, :-1]) - mel[:, 1:]).abs().mean()

    @torch.no_grad()
    def sample(self, batch: int, frames: int, generator: torch.Generator, prompt: torch.Tensor | None = None
               ) -> torch.Tensor:
        seq = prompt if prompt is not None else torch.zeros(batch, 1, MEL_BANDS)
        while seq.shape[1] < frames:
            nxt = self.predict(seq[:, -64:])[:, -1:]
            seq = torch.cat([seq, nxt + 0.05 * torch.randn(nxt.shape, generator=generator)], 1)
        return seq[:, :frames]


class FrameTransformer(nn.Module):
    """Causal Transformer over frames (learned positions up to 512 frames) → the next frame."""

    def __init__(self, dim: int = 128, layers: int = 2, heads: int = 4, max_frames: int = 512) -> None:
        super().__init__()
        self.inp = nn.Linear(MEL_BANDS, dim)
        self.pos = nn.Parameter(0.02 * torch.randn(max_frames, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(dim, MEL_BANDS)
        self.max_frames = max_frames

    def predict(self, mel: torch.Tensor) -> torch.Tensor:
        mel = mel[:, -self.max_frames:]
        n = mel.shape[1]
        mask = torch.triu(torch.full((n, n), float("-inf")), 1)
        return self.out(self.body(self.inp(mel) + self.pos[:n], mask=mask, is_causal=True))

    def loss(self, mel: torch.Tensor) -> torch.Tensor:
        return (self.predict(mel[:, :-1]) - mel[:, 1:]).abs().mean()

    sample = FrameAR.sample


class PatchDiffusion(nn.Module):
    """ε-prediction over (1, 64, frames) patches; the noise level enters as a per-channel bias."""

    steps = 50

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        c = channels
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.level = nn.Linear(16, c)
        self.body = nn.ModuleList([nn.Conv2d(c, c, 3, padding=d, dilation=d) for d in (1, 2, 4, 1)])
        self.out = nn.Conv2d(c, 1, 3, padding=1)

    @staticmethod
    def _alpha_bar(t: torch.Tensor) -> torch.Tensor:
        return torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    def _eps(self, noisy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        freqs = torch.exp(torch.linspace(0, 6, 8))
        emb = torch.cat([torch.sin(t[:, None] * freqs), torch.cos(t[:, None] * freqs)], 1)
        h = self.inp(noisy[:, None]) + self.level(emb)[:, :, None, None]
        for conv in self.body:
            h = h + F.silu(conv(F.silu(h)))
        return self.out(h)[:, 0]

    def loss(self, mel: torch.Tensor) -> torch.Tensor:
        x0 = mel.transpose(1, 2)  # (B, 64, frames)
        t = torch.rand(x0.shape[0]) * 0.98 + 0.01
        ab = self._alpha_bar(t)[:, None, None]
        eps = torch.randn_like(x0)
        return (self._eps(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t) - eps).pow(2).mean()

    @torch.no_grad()
    def sample(self, batch: int, frames: int, generator: torch.Generator, prompt: torch.Tensor | None = None
               ) -> torch.Tensor:
        x = torch.randn(batch, MEL_BANDS, frames, generator=generator)
        ts = torch.linspace(0.99, 0.0, self.steps + 1)
        for t, s in itertools.pairwise(ts):
            ab_t, ab_s = self._alpha_bar(t), self._alpha_bar(s)
            eps = self._eps(x, t.repeat(batch))
            x0 = ((x - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()).clamp(-3, 3)
            # the noise consistent with the clipped x0: an undertrained ε-net's wild ε must not carry on (it did:
            # Fréchet distances of 1e10 from one seed in three)
            eps = (x - ab_t.sqrt() * x0) / (1 - ab_t).sqrt()
            x = ab_s.sqrt() * x0 + (1 - ab_s).sqrt() * eps  # DDIM (η = 0)
        return x0.transpose(1, 2)  # the last step's clean estimate


def build_model(kind: ModelKind) -> nn.Module:
    builders = {"ar": FrameAR, "diffusion": PatchDiffusion, "transformer": FrameTransformer}
    if kind not in builders:
        raise ValueError(f"model kind {kind!r} is unknown; choose one of {', '.join(KINDS)}")
    return builders[kind]()
