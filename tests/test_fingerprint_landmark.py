"""The landmark (peak-pair) baseline: peaks, hashes, and a matcher that finds excerpts and not noise."""

from __future__ import annotations

import numpy as np
import pytest

from soundsafe.attacks import apply_attack
from soundsafe.fingerprint.evaluate import LANDMARK_THRESHOLD
from soundsafe.fingerprint.landmark import LandmarkCatalog, LandmarkConfig, landmarks, peaks

SR = 44100


def _tune(seed: int, seconds: float = 20.0) -> np.ndarray:
    """A random melody of decaying partials: peaks that move in time and frequency, like music."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.25 * SR)) / SR
    notes = []
    for _ in range(int(seconds / 0.25)):
        f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
        note = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5)) * np.exp(-6 * t)
        notes.append(note)
    return (0.2 * np.concatenate(notes)).astype(np.float32)[:, None]


@pytest.fixture(scope="module")
def catalog() -> tuple[LandmarkCatalog, dict[str, np.ndarray]]:
    tunes = {f"track-{i}": _tune(i) for i in range(5)}
    cat = LandmarkCatalog()
    for name, audio in tunes.items():
        cat.add(name, audio, SR)
    return cat, tunes


def test_peaks_and_hashes_are_time_ordered_and_pack_their_fields() -> None:
    c = LandmarkConfig()
    t, f = peaks(_tune(0, 5.0), SR, c)
    assert t.size > 20 and np.all(np.diff(t) >= 0) and f.min() >= c.min_bin
    hashes, anchors = landmarks(t, f, c)
    assert hashes.size > t.size  # several pairs per anchor
    dt, df = hashes & 63, ((hashes >> 6) & 127) - c.max_df
    assert dt.min() >= 1 and dt.max() <= c.max_dt and np.abs(df).max() <= c.max_df
    assert set(anchors) <= set(t)


def test_an_excerpt_is_found_at_its_offset_and_noise_is_not(catalog) -> None:
    cat, tunes = catalog
    excerpt = tunes["track-3"][6 * SR: 11 * SR]
    ranked = cat.rank(excerpt, SR)
    # the tunes share one 36-note scale on one 0.25 s grid, so other tracks collect some aligned votes too
    assert ranked[0][0] == "track-3" and ranked[0][1] > 3 * max(LANDMARK_THRESHOLD, ranked[1][1])
    assert ranked[0][2] == pytest.approx(6.0, abs=0.1)
    noisy = apply_attack("white_noise", excerpt, SR, None, seed=1)
    assert cat.rank(noisy, SR)[0][0] == "track-3"
    noise = np.random.default_rng(0).normal(0, 0.1, (5 * SR, 1)).astype(np.float32)
    found = cat.rank(noise, SR)
    assert not found or found[0][1] < LANDMARK_THRESHOLD  # chance votes stay under the decision threshold
    assert cat.rank(excerpt[:100], SR) == []  # too short for one frame: no ranking
