"""Small audio-to-audio generative models at 44.1 kHz, trained to re-synthesise their input (timbre transfer's
training task): waveform in, waveform out, any length.

- :class:`DDSPStyle` (Engel et al. 2020): per frame (hop 256) the input's pitch (autocorrelation peak), loudness
  and a 32-band log-mel "z" drive a decoder (dilated convolutions over frames where DDSP has a GRU) that sets a
  harmonic oscillator bank (amplitude and harmonic distribution), a filtered-noise synthesiser, and a trained
  reverb impulse response applied to the sum, as in DDSP's autoencoder. Music here is polyphonic, so the single
  pitch track is a rough one; the noise bands and the reverb carry the rest.
- :class:`RaveLikeVAE` (Caillon & Esling 2021, first stage): a strided convolutional encoder (a learned filterbank
  of stride 16 in place of RAVE's PQMF bands, then three stride-2 blocks: 128 samples per latent frame) to a
  16-dimensional Gaussian latent, and a mirrored transposed-convolution decoder, trained with a multi-resolution
  spectral loss and a β-weighted KL term. RAVE's adversarial second stage is left out.

Neither model is told about echoes: whatever echo they produce they learned from the training audio.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["KINDS", "DDSPStyle", "ModelKind", "RaveLikeVAE", "build_model", "spectral_loss"]

SAMPLE_RATE = 44100
ModelKind = Literal["ddsp", "vae"]
KINDS: tuple[ModelKind, ...] = ("ddsp", "vae")


def spectral_loss(y: torch.Tensor, target: torch.Tensor, sizes: tuple[int, ...] = (2048, 1024, 512, 256, 128)
                  ) -> torch.Tensor:
    """DDSP's multi-scale spectral loss: L1 of linear and log magnitudes over several STFT sizes, (B, T) inputs."""
    loss = y.new_zeros(())
    for n in sizes:
        window = torch.hann_window(n, device=y.device)
        a = torch.stft(y, n, n // 4, window=window, return_complex=True).abs()
        b = torch.stft(target, n, n // 4, window=window, return_complex=True).abs()
        loss = loss + (a - b).abs().mean() + (torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().mean()
    return loss / len(sizes)


class DDSPStyle(nn.Module):
    """Pitch + loudness + log-mel → dilated convolutions → harmonic and noise synthesisers → trained reverb."""

    hop = 256
    n_fft = 1024

    def __init__(self, harmonics: int = 24, noise_bands: int = 96, hidden: int = 160, mels: int = 32,
                 reverb_taps: int = 2048) -> None:
        super().__init__()
        import torchaudio

        self.harmonics = harmonics
        self.mel = torchaudio.transforms.MelSpectrogram(SAMPLE_RATE, n_fft=self.n_fft, hop_length=self.hop,
                                                        n_mels=mels, center=True)
        self.inp = nn.Sequential(nn.Linear(mels + 2, hidden), nn.LayerNorm(hidden), nn.LeakyReLU())
        # dilated convolutions over frames where DDSP has a GRU: the same context (±14 frames), far faster on a CPU
        self.context = nn.Sequential(*[nn.Sequential(nn.Conv1d(hidden, hidden, 5, padding=2 * d, dilation=d),
                                                     nn.LeakyReLU()) for d in (1, 2, 4)])
        self.out = nn.Sequential(nn.Linear(hidden + mels + 2, hidden), nn.LeakyReLU(),
                                 nn.Linear(hidden, 1 + harmonics + noise_bands))
        # the reverb starts as a faint decaying noise tail, as in DDSP; the dry path is fixed at unit gain
        decay = torch.exp(-torch.arange(reverb_taps) / (reverb_taps / 6))
        self.reverb = nn.Parameter(1e-3 * torch.randn(reverb_taps) * decay)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, frames, mels + 2): log-mel, log pitch (autocorrelation peak in 60–1000 Hz), loudness in dB / 50."""
        with torch.no_grad():
            mel = torch.log(self.mel(x) + 1e-5).transpose(1, 2)
            frames = F.pad(x, (self.n_fft // 2, self.n_fft // 2)).unfold(-1, self.n_fft, self.hop)[:, : mel.shape[1]]
            power = torch.fft.rfft(frames * torch.hann_window(self.n_fft), n=2 * self.n_fft).abs() ** 2
            ac = torch.fft.irfft(power)[..., : self.n_fft]
            low, high = SAMPLE_RATE // 1000, SAMPLE_RATE // 60
            lag = ac[..., low:high].argmax(-1) + low
            f0 = SAMPLE_RATE / lag.float()
            loudness = 10 * torch.log10(frames.pow(2).mean(-1) + 1e-8)
            extra = torch.stack([torch.log(f0) - 5.5, loudness / 50], -1)
        return torch.cat([mel, extra], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) → (B, T)."""
        b, t = x.shape
        feats = self.features(x)
        h = self.context(self.inp(feats).transpose(1, 2)).transpose(1, 2)
        controls = self.out(torch.cat([h, feats], -1))
        amp = F.softplus(controls[..., :1]) * 0.1
        dist = torch.softmax(controls[..., 1: 1 + self.harmonics], -1)
        noise_mag = torch.sigmoid(controls[..., 1 + self.harmonics:]) * 0.05
        # harmonic bank: controls upsampled to the sample rate, harmonics above Nyquist silenced
        f0 = torch.exp(feats[..., -2] + 5.5)

        def upsample(v: torch.Tensor) -> torch.Tensor:  # (B, frames, C) → (B, T, C)
            return F.interpolate(v.transpose(1, 2), size=t, mode="linear", align_corners=False).transpose(1, 2)

        f0s = upsample(f0[..., None])
        k = torch.arange(1, self.harmonics + 1, device=x.device)
        with torch.no_grad():  # the pitch is the input's, not learned: no gradient through the oscillators
            phase = 2 * math.pi * torch.cumsum(f0s / SAMPLE_RATE, dim=1)
            oscillators = torch.sin(phase * k) * (f0s * k < SAMPLE_RATE / 2)
        harmonic = (upsample(amp * dist) * oscillators).sum(-1)
        # filtered noise: white noise shaped in the STFT domain by the band magnitudes
        window = torch.hann_window(self.n_fft, device=x.device)
        noise = torch.stft(torch.rand(b, t, device=x.device) * 2 - 1, self.n_fft, self.hop, window=window,
                           return_complex=True)
        frames, bands = noise_mag.shape[1], noise_mag.shape[2]
        shaped = F.interpolate(noise_mag.reshape(b * frames, 1, bands), size=noise.shape[-2], mode="linear")
        shaped = shaped.reshape(b, frames, -1).transpose(1, 2)[..., : noise.shape[-1]]
        filtered = torch.istft(noise * shaped, self.n_fft, self.hop, window=window, length=t)
        dry = harmonic + filtered
        n = t + self.reverb.numel()
        wet = torch.fft.irfft(torch.fft.rfft(dry, n) * torch.fft.rfft(self.reverb, n), n)[:, :t]
        return dry + wet


class RaveLikeVAE(nn.Module):
    """Waveform VAE: learned filterbank (stride 16) + 3 stride-2 blocks → 16-d latent → mirror decoder."""

    def __init__(self, channels: int = 64, latent: int = 16) -> None:
        super().__init__()
        c = channels

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv1d(cin, cout, 5, 2, 2), nn.LeakyReLU(0.2), nn.Conv1d(cout, cout, 3, 1, 1),
                                 nn.LeakyReLU(0.2))

        def up(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.ConvTranspose1d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv1d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.2))

        self.encoder = nn.Sequential(nn.Conv1d(1, c, 32, 16, 8), nn.LeakyReLU(0.2), block(c, c), block(c, 2 * c),
                                     block(2 * c, 2 * c), nn.Conv1d(2 * c, 2 * latent, 3, 1, 1))
        self.decoder = nn.Sequential(nn.Conv1d(latent, 2 * c, 3, 1, 1), nn.LeakyReLU(0.2), up(2 * c, 2 * c),
                                     up(2 * c, c), up(c, c), nn.ConvTranspose1d(c, 1, 32, 16, 8), nn.Tanh())
        self.kl = torch.zeros(())

    stride = 128

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) → (B, T); the KL term of the last call is left in ``self.kl``."""
        t = x.shape[-1]
        pad = (-t) % self.stride
        stats = self.encoder(F.pad(x, (0, pad))[:, None])
        mean, scale = stats.chunk(2, dim=1)
        std = F.softplus(scale) + 1e-4
        z = mean + std * torch.randn_like(std) if self.training else mean
        self.kl = (0.5 * (mean**2 + std**2 - 1) - torch.log(std)).sum(1).mean()
        return self.decoder(z)[:, 0, :t]


def build_model(kind: ModelKind) -> nn.Module:
    if kind == "ddsp":
        return DDSPStyle()
    if kind == "vae":
        return RaveLikeVAE()
    raise ValueError(f"model kind {kind!r} is unknown; choose one of {', '.join(KINDS)}")
