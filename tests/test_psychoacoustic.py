"""The psychoacoustic model: calibration, threshold in quiet, frequency and temporal masking, NMR."""

from __future__ import annotations

import math

import pytest
import torch

from soundsafe.watermark.psychoacoustic import PsychoacousticModel, noise_to_mask_ratio, threshold_in_quiet_db

SR = 44100
MODEL = PsychoacousticModel(sample_rate=SR)


def tone(hz: float, amplitude: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    return amplitude * torch.sin(2 * math.pi * hz * t)


def band_noise(lo: float, hi: float, rms: float, seed: int = 0) -> torch.Tensor:
    noise = torch.randn(SR, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    spectrum = torch.fft.rfft(noise)
    freqs = torch.fft.rfftfreq(SR, 1 / SR)
    spectrum[(freqs < lo) | (freqs > hi)] = 0
    band = torch.fft.irfft(spectrum, SR)
    return band / band.std() * rms


def bin_of(hz: float) -> int:
    return round(hz / (SR / 2) * (MODEL.n_fft // 2))


def test_a_full_scale_sine_reads_96_db_spl() -> None:
    on_bin = 46 * SR / MODEL.n_fft  # a bin centre: no scalloping loss
    spectrum = MODEL.spectrum_db(tone(on_bin, 1.0))
    assert float(spectrum[20].max()) == pytest.approx(96.0, abs=0.5)


def test_threshold_in_quiet_has_its_shape() -> None:
    db = threshold_in_quiet_db(torch.tensor([100.0, 1000.0, 3300.0, 16000.0]))
    assert db[0] > 20 and abs(db[1]) < 5 and db[2] < -4 and db[3] > 40
    assert torch.argmin(threshold_in_quiet_db(MODEL.freqs[1:])) in range(bin_of(2500), bin_of(4500))


def test_a_tone_masks_its_neighbourhood_not_the_far_spectrum() -> None:
    threshold = MODEL.threshold_db(tone(1000.0, 0.1))[40]
    quiet = threshold_in_quiet_db(MODEL.freqs)
    assert threshold[bin_of(1000)] - quiet[bin_of(1000)] > 40
    assert threshold[bin_of(1100)] > threshold[bin_of(1500)] > threshold[bin_of(3000)]
    assert threshold[bin_of(8000)] - quiet[bin_of(8000)] < 10


def test_nmr_tells_masked_from_audible_noise_and_scales_with_its_level() -> None:
    host = tone(1000.0, 0.1)
    near = noise_to_mask_ratio(host, band_noise(900, 1100, 0.1 * 10 ** (-30 / 20)), MODEL)
    far = noise_to_mask_ratio(host, band_noise(4000, 5000, 0.1 * 10 ** (-30 / 20)), MODEL)
    assert near < 0 < far
    louder = noise_to_mask_ratio(host, 10 * band_noise(4000, 5000, 0.1 * 10 ** (-30 / 20)), MODEL)
    assert float(louder - far) == pytest.approx(20.0, abs=1e-6)


def test_masking_outlasts_the_masker_then_decays() -> None:
    burst = tone(1000.0, 0.3, 1.0)
    burst[SR // 2:] = 0.0  # a loud tone that stops half-way
    threshold = MODEL.threshold_db(burst)[:, bin_of(1000)]
    stop = (SR // 2) // MODEL.hop
    quiet = float(threshold_in_quiet_db(MODEL.freqs)[bin_of(1000)])
    assert threshold[stop + 3] > quiet + 30, "post-masking just after the masker"
    assert threshold[stop + 3] > threshold[stop + 8] > threshold[stop + 14]
    assert float(threshold[-1]) == pytest.approx(quiet, abs=1.0), "gone after ~300 ms"
    assert threshold[stop - 1] > threshold[stop + 1], "the masker itself masks more than its echo"


def test_nmr_is_differentiable_in_the_added_signal_and_batched() -> None:
    host = torch.stack([tone(440.0, 0.2), tone(880.0, 0.05)])
    added = (torch.randn(2, SR, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 1e-3)
    added.requires_grad_()
    nmr = noise_to_mask_ratio(host, added, MODEL)
    assert nmr.shape == (2,)
    nmr.sum().backward()
    assert torch.isfinite(added.grad).all() and added.grad.abs().sum() > 0
