"""Ingest: any folder of common formats becomes a 44.1 kHz manifest; unreadable files are named, not dropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from soundsafe.ingest import IngestError, ingest_folder
from soundsafe.manifest import read_manifest
from soundsafe.validation.core import validate_corpus
from tests.conftest import VALIDATE_RULES


def _tone(sr: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * 330 * t))[:, None].repeat(channels, 1).astype(np.float32)


def _write_aac(path: Path, audio: np.ndarray, sr: int) -> None:
    """AAC in MP4: a format libsndfile cannot read, so ingest must fall back to FFmpeg."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sr, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.T), format="fltp", layout="stereo")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.fixture
def music_folder(tmp_path: Path) -> Path:
    src = tmp_path / "music"
    (src / "album").mkdir(parents=True)
    sf.write(src / "a.wav", _tone(48000, 1.5, 2), 48000)
    sf.write(src / "album" / "b.flac", _tone(44100, 1.5, 1), 44100)
    sf.write(src / "album" / "c.ogg", _tone(22050, 1.5, 2), 22050, format="OGG", subtype="VORBIS")
    sf.write(src / "d.mp3", _tone(44100, 1.5, 2), 44100, format="MP3", subtype="MPEG_LAYER_III")
    _write_aac(src / "album" / "e.m4a", _tone(44100, 1.5, 2), 44100)
    (src / "broken.mp3").write_bytes(b"\xff\xfb this is not an mp3 stream at all" * 10)
    (src / "notes.txt").write_text("not audio, not an audio extension: ignored")
    return src


def test_ingest_resamples_every_format_and_reports_unreadable_files(music_folder: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ingested"
    df, rejected = ingest_folder(music_folder, out)
    assert sorted(df["source"]) == ["a.wav", "album/b.flac", "album/c.ogg", "album/e.m4a", "d.mp3"]
    assert [r[0] for r in rejected] == ["broken.mp3"]
    assert "broken.mp3" in capsys.readouterr().err
    assert pd.read_csv(out / "rejected.csv")["file"].tolist() == ["broken.mp3"]
    manifest = read_manifest(out / "manifest.parquet")
    for row in manifest.to_dict("records"):
        info = sf.info(str(out / row["path"]))
        assert info.samplerate == 44100 and info.frames == row["num_frames"]
        assert abs(row["duration_s"] - 1.5) < 0.08  # MP3 and AAC add encoder padding
    # Without metadata the data is still checkable when records are not required.
    outcome, _ = validate_corpus(out / "manifest.parquet", {**VALIDATE_RULES, "require_metadata": False},
                                 tmp_path / "reports")
    assert outcome.success


def test_ingest_attaches_metadata_from_csv(music_folder: Path, tmp_path: Path) -> None:
    csv = tmp_path / "meta.csv"
    writers = json.dumps([{"name": "A. Writer", "ipi": "00014107338", "share": 100.0, "role": "CA"}])
    pd.DataFrame([{"file": "a.wav", "isrc": "USRC17607839", "title": "Song A", "display_artist": "Band",
                   "writers": writers}]).to_csv(csv, index=False)
    df, _ = ingest_folder(music_folder, tmp_path / "out", metadata_csv=csv)
    row = df.set_index("source").loc["a.wav"]
    assert row["isrc"] == "USRC17607839"
    assert json.loads(row["metadata"])["writers"][0]["ipi"] == "00014107338"
    assert df.set_index("source").loc["d.mp3", "metadata"] == ""


def test_ingest_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="not a folder"):
        ingest_folder(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="no audio files"):
        ingest_folder(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.wav").write_bytes(b"nope")
    with pytest.raises(IngestError, match="none of the 1 audio files"):
        ingest_folder(tmp_path / "bad", tmp_path / "out")
    assert not (tmp_path / "out").exists(), "a failed ingest leaves no half-written output"
