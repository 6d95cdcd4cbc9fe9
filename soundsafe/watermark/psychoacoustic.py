"""A psychoacoustic model: how much added sound a listener cannot hear, per STFT frame and bin (seed 002).

The masking threshold is the larger of
- the threshold in quiet, ``T(f) = 3.64 (f/kHz)^-0.8 − 6.5 exp(−0.6 (f/kHz − 3.3)²) + 10⁻³ (f/kHz)⁴`` dB SPL, and
- simultaneous (frequency) masking: the host's power spread over the Bark scale with Schroeder's spreading
  function, lowered by Johnston's offset that depends on how tonal the frame is (tonal maskers mask less:
  14.5 + z dB; noise-like ones 5.5 dB; the spectral flatness measure picks between them),
then extended in time: post-masking (a threshold decays after a loud frame by ``post_db_per_ms``) and pre-masking
(a loud frame raises the threshold a little before it, decaying fast, ``pre_db_per_ms``).

Levels are calibrated so that a full-scale sine reads 96 dB SPL (the usual assumption when the playback level
is unknown). Everything is torch, batched over leading dimensions; the threshold is computed from the host
without gradient, and :func:`noise_to_mask_ratio` is differentiable in the added signal, so it is both the
evaluation metric and a training loss.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

__all__ = [
    "PsychoacousticModel",
    "bark",
    "noise_to_mask_ratio",
    "threshold_in_quiet_db",
]

FULL_SCALE_DB = 96.0  # dB SPL of a full-scale sine


def bark(freq_hz: torch.Tensor) -> torch.Tensor:
    """Zwicker's critical-band rate (Bark) of frequencies in Hz."""
    return 13.0 * torch.atan(0.00076 * freq_hz) + 3.5 * torch.atan((freq_hz / 7500.0) ** 2)


def threshold_in_quiet_db(freq_hz: torch.Tensor) -> torch.Tensor:
    """Terhardt's absolute threshold of hearing in dB SPL (capped at 96 dB: below 20 Hz it is meaningless)."""
    khz = freq_hz.clamp_min(20.0) / 1000.0
    db = 3.64 * khz**-0.8 - 6.5 * torch.exp(-0.6 * (khz - 3.3) ** 2) + 1e-3 * khz**4
    return db.clamp(max=FULL_SCALE_DB)


def _schroeder_db(dz: torch.Tensor) -> torch.Tensor:
    """Schroeder's spreading function in dB at a Bark distance ``dz`` (maskee − masker)."""
    return 15.81 + 7.5 * (dz + 0.474) - 17.5 * torch.sqrt(1.0 + (dz + 0.474) ** 2)


@dataclass(frozen=True)
class PsychoacousticModel:
    """STFT settings and masking constants; build once per sample rate and reuse."""

    sample_rate: int = 44100
    n_fft: int = 2048
    hop: int = 512
    post_db_per_ms: float = 0.15  # forward masking falls ~30 dB over ~200 ms
    pre_db_per_ms: float = 1.0  # backward masking reaches only ~5–20 ms back
    temporal_span_ms: float = 200.0

    @functools.cached_property
    def freqs(self) -> torch.Tensor:
        return torch.linspace(0, self.sample_rate / 2, self.n_fft // 2 + 1, dtype=torch.float64)

    @functools.cached_property
    def _window(self) -> torch.Tensor:
        return torch.hann_window(self.n_fft, dtype=torch.float64)

    @functools.cached_property
    def _spreading(self) -> torch.Tensor:
        """(bins, bins) linear weights: how much power at bin j raises the threshold at bin i."""
        z = bark(self.freqs)
        return 10 ** (_schroeder_db(z[:, None] - z[None, :]) / 10)

    @functools.cached_property
    def _quiet_db(self) -> torch.Tensor:
        return threshold_in_quiet_db(self.freqs)

    @functools.cached_property
    def band_index(self) -> torch.Tensor:
        """Critical band (integer Bark, 0…24) of each STFT bin, for band-wise ratios."""
        return bark(self.freqs).floor().long().clamp(max=24)

    def spectrum_db(self, audio: torch.Tensor) -> torch.Tensor:
        """Calibrated power spectrum in dB SPL, shape ``(..., frames, bins)`` for audio ``(..., samples)``."""
        power = self.power(audio)
        return 10 * torch.log10(power.clamp_min(1e-20))

    def power(self, audio: torch.Tensor) -> torch.Tensor:
        """Calibrated power (linear, 1.0 = 0 dB SPL) per frame and bin; differentiable in ``audio``."""
        shape = audio.shape
        flat = audio.reshape(-1, shape[-1]).to(torch.float64)
        spec = torch.stft(flat, self.n_fft, self.hop, window=self._window.to(flat.device), center=True,
                          return_complex=True)
        scale = (self._window.sum() / 2) ** 2  # a full-scale sine peaks at (Σw/2)² in its bin
        power = (spec.real.pow(2) + spec.imag.pow(2)).transpose(-1, -2) / scale * 10 ** (FULL_SCALE_DB / 10)
        return power.reshape(*shape[:-1], *power.shape[-2:])

    @torch.no_grad()
    def threshold_db(self, host: torch.Tensor) -> torch.Tensor:
        """Masking threshold in dB SPL per frame and bin, ``(..., frames, bins)``."""
        power = self.power(host)
        spread = power @ self._spreading.T.to(power.device)
        # Johnston's tonality: spectral flatness of the frame, −60 dB or below = a pure tone
        log_power = torch.log(power.clamp_min(1e-20))
        flatness_db = 10 / torch.log(torch.tensor(10.0)) * (
            log_power.mean(-1) - torch.log(power.mean(-1).clamp_min(1e-20)))
        tonality = (flatness_db / -60.0).clamp(0.0, 1.0)[..., None]
        z = bark(self.freqs).to(power.device)
        offset = tonality * (14.5 + z) + (1 - tonality) * 5.5
        simultaneous = 10 * torch.log10(spread.clamp_min(1e-20)) - offset
        threshold = torch.maximum(simultaneous, self._quiet_db.to(power.device))
        return self._temporal(threshold)

    def _temporal(self, threshold: torch.Tensor) -> torch.Tensor:
        """Post- and pre-masking: the max over neighbouring frames of their threshold minus a decay."""
        frame_ms = 1000 * self.hop / self.sample_rate
        frames = threshold.shape[-2]
        out = threshold.clone()
        for lag in range(1, min(frames, int(self.temporal_span_ms / frame_ms) + 1)):
            post = threshold[..., :-lag, :] - lag * frame_ms * self.post_db_per_ms
            out[..., lag:, :] = torch.maximum(out[..., lag:, :], post)
            pre_drop = lag * frame_ms * self.pre_db_per_ms
            if pre_drop < 30:  # beyond that, pre-masking cannot matter
                out[..., :-lag, :] = torch.maximum(out[..., :-lag, :], threshold[..., lag:, :] - pre_drop)
        return out

    def threshold_power(self, host: torch.Tensor) -> torch.Tensor:
        """The masking threshold as calibrated linear power, comparable with :meth:`power`."""
        return 10 ** (self.threshold_db(host) / 10)


def noise_to_mask_ratio(host: torch.Tensor, added: torch.Tensor, model: PsychoacousticModel | None = None,
                        threshold: torch.Tensor | None = None) -> torch.Tensor:
    """NMR in dB of ``added`` (e.g. watermark, or attacked − host) against the host's masking threshold.

    Per frame: ``10·log10(mean over critical bands of noise_band / mask_band)``; returned as the mean over frames,
    shape ``(...)`` for inputs ``(..., samples)``. Below 0 dB the added sound is (on average) inaudible.
    Differentiable in ``added``; pass a precomputed ``threshold`` (from :meth:`threshold_power`) to reuse it.
    """
    model = model or PsychoacousticModel()
    mask = model.threshold_power(host) if threshold is None else threshold
    noise = model.power(added)
    bands = model.band_index.to(noise.device)
    count = int(bands.max()) + 1
    zeros = torch.zeros(*noise.shape[:-1], count, dtype=noise.dtype, device=noise.device)
    noise_b = zeros.index_add(-1, bands, noise)
    mask_b = zeros.index_add(-1, bands, mask.to(noise.dtype))
    per_frame = 10 * torch.log10((noise_b / mask_b.clamp_min(1e-20)).mean(-1).clamp_min(1e-20))
    return per_frame.mean(-1)
