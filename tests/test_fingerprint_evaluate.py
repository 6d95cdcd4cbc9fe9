"""The fingerprint evaluation: parallel degradation gives the same tables as serial; the streaming decisions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from soundsafe.fingerprint.evaluate import (
    EvalSpec,
    Query,
    calibrate_threshold,
    noise_clips,
    retrieval,
    streaming,
    streams,
    target_lines,
)

SR = 8000


def _queries() -> list[Query]:
    rng = np.random.default_rng(3)
    t = np.arange(6 * SR) / SR
    tones = [np.sin(2 * np.pi * f * t) * 0.3 + 0.01 * rng.standard_normal(t.size) for f in (300.0, 700.0, 1500.0)]
    return [Query(f"track{i}", np.stack([x, x], axis=1).astype(np.float32), SR) for i, x in enumerate(tones)]


def _spectral_ranker(queries: list[Query]):
    """Ranks tracks by the distance of the query's spectral centroid to each track's: a real, falsifiable rule."""

    def centroid(audio: np.ndarray) -> float:
        mag = np.abs(np.fft.rfft(audio.mean(axis=1)))
        freqs = np.fft.rfftfreq(audio.shape[0], 1 / SR)
        return float((mag * freqs).sum() / (mag.sum() + 1e-12))

    refs = {q.track_id: centroid(q.audio) for q in queries}

    def rank(audio: np.ndarray, sr: int) -> list[tuple[str, float]]:
        c = centroid(audio)
        return sorted(((t, -abs(c - r)) for t, r in refs.items()), key=lambda p: -p[1])

    return rank


def test_retrieval_same_with_workers_and_ranks_clean_queries() -> None:
    queries = _queries()
    rankers = {"centroid": _spectral_ranker(queries)}
    base = dict(snrs=[10], lengths=[1.0, 2.0], calibration_clips=2, stream_noise_s=2.0, stream_song_s=3.0)
    serial = retrieval(queries, rankers, EvalSpec(**base, workers=1))
    parallel = retrieval(queries, rankers, EvalSpec(**base, workers=2))
    cols = ["system", "snr_db", "seconds", "query", "rank"]
    pd.testing.assert_frame_equal(serial[cols], parallel[cols])
    assert len(serial) == len(queries) * 2
    assert np.isfinite(serial["rank"]).all() and (serial["rank"] >= 1).all()


def test_streams_and_noise_clips_are_deterministic_and_shaped() -> None:
    queries = _queries()
    spec1 = EvalSpec(calibration_clips=3, stream_noise_s=2.0, stream_song_s=3.0, workers=1)
    spec2 = EvalSpec(calibration_clips=3, stream_noise_s=2.0, stream_song_s=3.0, workers=2)
    a, b = streams(queries, spec1), streams(queries, spec2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(x.shape == (5 * SR, 2) for x in a)
    clips = noise_clips(queries, spec1)
    assert len(clips) == 3 and all(c.shape == (3 * SR, 2) and sr == SR for c, sr in clips)
    rank = _spectral_ranker(queries)
    threshold = calibrate_threshold(rank, clips)
    result = streaming(queries, a, rank, threshold, spec1)
    assert set(result) == {
        "time_to_first_correct_s",
        "identified_rate",
        "noise_false_positive_rate",
        "flips_per_minute",
        "raw_flips_per_minute",
    }
    assert 0.0 <= result["identified_rate"] <= 1.0
    assert math.isnan(result["time_to_first_correct_s"]) or result["time_to_first_correct_s"] >= 0


def test_streaming_shows_the_first_answer_at_once_and_confirms_a_change() -> None:
    """Decisions a, b, a, a, b, b, none, a over an 8 s song: four raw changes, one shown flip (b twice in a row)."""
    script = iter([None, None, "a", "b", "a", "a", "b", "b", None, "a"])  # one decision a second, 2 s of noise first

    def rank(audio: np.ndarray, sr: int) -> list[tuple[str, float]]:
        name = next(script)
        return [(name, 1.0)] if name else []

    spec = EvalSpec(stream_noise_s=2.0, stream_song_s=8.0, stream_window_s=1.0, stream_confirm=2)
    query = Query("a", np.zeros((8 * SR, 1), np.float32), SR)
    result = streaming([query], [np.zeros((10 * SR, 1), np.float32)], rank, 0.5, spec)
    assert result["time_to_first_correct_s"] == 1.0 and result["identified_rate"] == 1.0
    assert result["noise_false_positive_rate"] == 0.0
    assert result["raw_flips_per_minute"] == pytest.approx(4 / (8 / 60))
    assert result["flips_per_minute"] == pytest.approx(1 / (8 / 60))


def test_target_lines_say_what_is_met_and_by_how_much_the_rest_falls_short() -> None:
    rows = [("soundsafe", 0, 5.0, 0.95), ("chromaprint", 0, 5.0, 0.43), ("soundsafe", 5, 3.0, 0.70),
            ("chromaprint", 5, 3.0, 0.60), ("soundsafe", 5, 1.0, 0.40), ("chromaprint", 5, 1.0, 0.0)]
    summary = pd.DataFrame(rows, columns=["system", "snr_db", "seconds", "top1"])
    live = {"time_to_first_correct_s": 4.0, "noise_false_positive_rate": 0.005, "flips_per_minute": 0.5}
    lines = {line.split(" | ")[0].lstrip("| "): line for line in target_lines(summary, live)[2:]}
    assert lines["Top-1 at 5 s / +0 dB"].endswith("| met |")
    assert lines["Top-1 at 1 s / +5 dB"].endswith("| 0.100 |")  # 0.40 against 0.50
    assert "Top-1 at 10 s / +5 dB" not in lines  # not measured: left out
    assert lines["lead over chromaprint at 5 s / +0 dB"].endswith("| met |")
    assert lines["lead over chromaprint at 3 s / +5 dB"].endswith("| 0.050 |")  # a 0.10 lead against 0.15
    assert "lead over chromaprint at 1 s / +5 dB" not in lines  # leads count from 3 s
    assert lines["streaming time to first correct s"].endswith("| 1.000 |")
    assert lines["streaming noise false positive rate"].endswith("| met |")
    assert lines["streaming flips per minute"].endswith("| met |")  # at the limit is met
