"""The cloak's budget: at most the host's masking threshold per STFT frame and bin, and a floor on the SNR.

The allowed power per frame and bin is the project's psychoacoustic threshold (threshold in quiet, frequency
masking, temporal masking: :mod:`soundsafe.watermark.psychoacoustic`) lowered by ``margin_db``. HarmonyCloak puts
the noise where the music is: each frame's budget is weighted toward its dominant frequencies (bins within
``dominant_db`` of the frame's peak keep the whole budget, the rest is scaled down by ``off_peak_db``). The noise
is also never louder than the music itself in a bin (``host_ceiling_db``): where the music is near silent the
threshold in quiet is far above it, and noise there, inaudible as it is, rewrites the silence that a model's log
spectrum sees (measured: +53 dB in the quietest 0.5 % of log-mel bins) instead of hiding in the music.
:func:`project` maps any noise into the budget: its STFT magnitudes are clipped to the allowed ones (phases
kept; nothing above ``max_hz``), then the whole noise is scaled down if the SNR would fall below
``min_snr_db``. The STFT is the psychoacoustic model's own (same window, hop and calibration), so what
:func:`project` allows is what the NMR metric measures; overlap-add can push a bin slightly over after the
inverse transform, so the projection runs ``passes`` times.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from soundsafe.watermark.psychoacoustic import FULL_SCALE_DB, PsychoacousticModel

__all__ = ["Budget", "BudgetSpec", "project"]


@dataclass(frozen=True)
class BudgetSpec:
    """How much noise a cloak may add."""

    margin_db: float = 3.0  # below the masking threshold
    dominant_db: float = 30.0  # bins within this of the frame's loudest are "dominant"
    off_peak_db: float = 10.0  # the budget elsewhere is lowered by this much
    min_snr_db: float = 32.0  # the issue asks ≥ 30; a little headroom for the codec's rounding
    host_ceiling_db: float = 0.0  # per bin, at most the music's own level + this (0: a log spectrum moves ≤ 3 dB)
    max_hz: float = 16000.0  # nothing above: the threshold in quiet climbs past 80 dB SPL there (a hole, not a
    #                          mask) and MP3 at 128 kbps cuts it anyway
    passes: int = 3


@dataclass
class Budget:
    """Allowed STFT magnitude per frame and bin for one host signal ``(..., samples)``."""

    model: PsychoacousticModel
    magnitude: torch.Tensor  # (..., bins, frames), in the units of torch.stft with the model's window
    host: torch.Tensor
    spec: BudgetSpec

    @classmethod
    def of(cls, host: torch.Tensor, spec: BudgetSpec = BudgetSpec(), sample_rate: int = 44100) -> Budget:
        model = PsychoacousticModel(sample_rate=sample_rate)
        with torch.no_grad():
            threshold_db = model.threshold_db(host)  # (..., frames, bins)
            level_db = model.spectrum_db(host)
            peak = level_db.amax(-1, keepdim=True)
            allowed_db = threshold_db - spec.margin_db - spec.off_peak_db * (level_db < peak - spec.dominant_db)
            allowed_db = torch.minimum(allowed_db, level_db + spec.host_ceiling_db)
            allowed_db = allowed_db.masked_fill(model.freqs.to(allowed_db.device) > spec.max_hz, -200.0)
            scale = (model._window.sum() / 2) ** 2
            power = 10 ** ((allowed_db - FULL_SCALE_DB) / 10) * scale
        return cls(model, power.sqrt().transpose(-1, -2).to(torch.float32), host, spec)

    def stft(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        flat = x.reshape(-1, x.shape[-1])
        spec = torch.stft(flat, m.n_fft, m.hop, window=m._window.to(torch.float32), center=True, return_complex=True)
        return spec.reshape(*x.shape[:-1], *spec.shape[-2:])

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        m = self.model
        flat = spec.reshape(-1, *spec.shape[-2:])
        out = torch.istft(flat, m.n_fft, m.hop, window=m._window.to(torch.float32), center=True, length=length)
        return out.reshape(*spec.shape[:-2], length)


def project(delta: torch.Tensor, budget: Budget) -> torch.Tensor:
    """``delta`` (same shape as the host) moved into the budget, without gradient."""
    with torch.no_grad():
        out = delta.detach().to(torch.float32)
        for _ in range(budget.spec.passes):
            spec = budget.stft(out)
            mag = spec.abs()
            factor = torch.clamp(budget.magnitude / mag.clamp_min(1e-12), max=1.0)
            out = budget.istft(spec * factor, out.shape[-1])
        signal = budget.host.pow(2).sum(-1, keepdim=True)
        noise = out.pow(2).sum(-1, keepdim=True).clamp_min(1e-20)
        ceiling = signal * 10 ** (-budget.spec.min_snr_db / 10)
        out = out * torch.clamp(torch.sqrt(ceiling / noise), max=1.0)
    return out
