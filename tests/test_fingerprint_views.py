"""The fingerprint's changing pool of crowds and rooms, and validation on the evaluation's own degradation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundsafe.fingerprint.data import Track
from soundsafe.fingerprint.train import retrieval_top1, validation_queries
from soundsafe.fingerprint.views import VALIDATION_SEED, PoolSpec, ViewPool

SR = 16000
SMALL = PoolSpec(crowds=3, crowd_seconds=2.0, rooms=1, crowd_refresh=0.5, room_refresh=0.5)


def _tone_track(name: str, freq: float, seconds: float = 4.0) -> Track:
    t = np.arange(int(seconds * SR)) / SR
    audio = (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return Track(name, name, "", audio)


def test_training_and_validation_pools_share_no_crowd() -> None:
    train, held_out = ViewPool(SMALL, SR, first_seed=0), ViewPool(SMALL, SR, first_seed=VALIDATION_SEED)
    for a in train.crowds:
        for b in held_out.crowds:
            assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="validation seeds"):
        ViewPool(SMALL, SR, first_seed=VALIDATION_SEED - 10)


def test_refresh_replaces_crowds_and_rooms_at_the_set_rate() -> None:
    pool = ViewPool(SMALL, SR)
    before, made = pool.crowds.copy(), (pool.crowds_made, pool.rooms_made)
    rng = np.random.default_rng(0)
    pool.refresh(rng)  # 0.5 due: nothing yet
    assert (pool.crowds_made, pool.rooms_made) == made and np.array_equal(pool.crowds, before)
    pool.refresh(rng)  # 1.0 due: one crowd and one room replaced, by never-heard ones
    assert (pool.crowds_made, pool.rooms_made) == (made[0] + 1, made[1] + 1)
    changed = [i for i in range(len(before)) if not np.array_equal(pool.crowds[i], before[i])]
    assert len(changed) == 1
    assert all(not np.allclose(pool.crowds[changed[0]], b) for b in before)


def test_pool_degrades_more_at_lower_snr() -> None:
    pool = ViewPool(SMALL, SR)
    views = torch.from_numpy(np.stack([_tone_track("a", 440.0).audio[:SR], _tone_track("b", 620.0).audio[:SR]]))

    def correlation(snr: float) -> float:
        out = pool.degrade(views, snr, np.random.default_rng(1), torch.Generator().manual_seed(1))
        assert out.shape == views.shape and torch.isfinite(out).all()
        spectra = [torch.fft.rfft(v).abs() for v in (out, views)]
        return float(torch.nn.functional.cosine_similarity(spectra[0], spectra[1], dim=-1).mean())

    assert correlation(10.0) > correlation(-10.0) + 0.05


def test_validation_queries_are_the_evaluation_chain_and_cached() -> None:
    tracks = [_tone_track("a", 440.0), _tone_track("b", 700.0)]
    degraded, picks = validation_queries(tracks, 4, "+0dB", SR, SR, seed=0)
    again, _ = validation_queries(tracks, 4, "+0dB", SR, SR, seed=0)
    assert again is degraded and degraded.shape == (4, SR) and set(picks) <= {0, 1}
    assert torch.isfinite(degraded).all()
    from soundsafe.fingerprint.model import build_encoder

    torch.manual_seed(0)
    top1 = retrieval_top1(build_encoder(), tracks, 4, "+0dB")
    assert 0.0 <= top1 <= 1.0
