"""The demo corpus: deterministic, well-formed audio, varied timbres, valid metadata, split by composition."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from soundsafe.corpus.build import plan_tracks, render_track
from soundsafe.corpus.drums import drum_hits
from soundsafe.corpus.instruments import VOICES, render_note
from soundsafe.manifest import COLUMNS, assign_splits, read_manifest
from soundsafe.payload.record import record_problems


def test_manifest_and_audio_are_well_formed(tiny_corpus_dir: Path) -> None:
    df = read_manifest(tiny_corpus_dir / "manifest.parquet")
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 4 and df["track_id"].is_unique
    for row in df.to_dict("records"):
        info = sf.info(str(tiny_corpus_dir / row["path"]))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")
        audio, _ = sf.read(str(tiny_corpus_dir / row["path"]))
        assert info.frames == row["num_frames"] == 88200
        peak = np.abs(audio).max()
        assert 0.2 < peak < 1.0  # normalized between -6 and -1 dBFS (plus 16-bit rounding)
        assert np.corrcoef(audio[:, 0], audio[:, 1])[0, 1] < 0.999  # real stereo, not dual mono
        assert record_problems(json.loads(row["metadata"])) == []


def test_same_seed_same_audio_other_seed_other_audio(tmp_path: Path) -> None:
    task = plan_tracks(1, 1.0, 44100, seed=11)[0]
    a = render_track(task, tmp_path / "a")
    b = render_track(task, tmp_path / "b")
    assert a["sha256"] == b["sha256"]
    other = plan_tracks(1, 1.0, 44100, seed=12)[0]
    assert render_track(other, tmp_path / "c")["sha256"] != a["sha256"]


def test_plan_mixes_styles() -> None:
    styles = {t.style for t in plan_tracks(11, 1.0, 44100, seed=1)}
    assert len(styles) == 6  # one weighted round covers every style


def _centroid(signal: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal))
    freqs = np.fft.rfftfreq(signal.size, 1 / sr)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_voices_have_distinct_spectra_and_envelopes() -> None:
    sr = 44100
    notes = {name: render_note(v, 60, 1.0, 0.8, sr, np.random.default_rng(0)) for name, v in VOICES.items()}
    centroids = {name: _centroid(sig, sr) for name, sig in notes.items()}
    # Timbres spread over a wide range of brightness, not one sound with different pitches.
    assert max(centroids.values()) / min(centroids.values()) > 3
    # Plucked/percussive voices decay; sustained ones hold.
    def late_to_early(sig: np.ndarray) -> float:
        return float(np.sqrt(np.mean(sig[int(0.7 * sr) : int(0.9 * sr)] ** 2) / np.mean(sig[: int(0.2 * sr)] ** 2)))
    assert late_to_early(notes["pluck"]) < 0.5 and late_to_early(notes["mallet"]) < 0.5
    assert late_to_early(notes["organ"]) > 0.8 and late_to_early(notes["strings"]) > 0.8


def test_drum_patterns_follow_the_meter() -> None:
    rng = np.random.default_rng(0)
    waltz = drum_hits(3.0, 1.0, 0.0, 6.0, rng)
    kicks = sorted(t for t, d, _ in waltz if d == "kick")
    assert kicks == [0.0, 3.0]
    common = drum_hits(4.0, 1.0, 0.0, 4.0, rng)
    assert sorted(t for t, d, _ in common if d == "snare") == [1.0, 3.0]


def test_splits_keep_a_composition_together() -> None:
    sources = ["a", "b", "a", "c", "d", "e", "f", "g", "h", "i", "j", "b"]
    split = assign_splits(sources, {"train": 0.8, "val": 0.1, "test": 0.1})
    assert set(split.values()) == {"train", "val", "test"}
    df = pd.DataFrame({"source": sources})
    df["split"] = df["source"].map(split)
    assert df.groupby("source")["split"].nunique().max() == 1
