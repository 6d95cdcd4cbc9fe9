"""Validation catches bad data and names the file and the problem; good data passes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from soundsafe.manifest import read_manifest, sha256_file, write_manifest
from soundsafe.validation.core import DataValidationError, validate_corpus
from tests.conftest import VALIDATE_RULES


def test_a_good_corpus_passes_and_writes_the_validated_manifest(corpus_copy: Path, tmp_path: Path) -> None:
    outcome, metrics = validate_corpus(corpus_copy / "manifest.parquet", VALIDATE_RULES, tmp_path / "reports",
                                       validated_dir=tmp_path / "validated")
    assert outcome.success and outcome.problems == []
    assert metrics["files"] == 4 and metrics["expectations_failed"] == 0
    validated = read_manifest(tmp_path / "validated" / "manifest.parquet")
    for rel in validated["path"]:
        assert (tmp_path / "validated" / rel).resolve().is_file()
    assert json.loads((tmp_path / "reports" / "report.json").read_text())["success"] is True


def _replace_audio(corpus: Path, audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> str:
    """Overwrite the first track's audio and fix its manifest row so only the audio itself is wrong."""
    df = read_manifest(corpus / "manifest.parquet")
    path = corpus / df.loc[0, "path"]
    sf.write(str(path), audio, sr, subtype=subtype)
    df.loc[0, ["sha256", "sample_rate", "num_frames", "channels", "duration_s"]] = [
        sha256_file(path), sr, audio.shape[0], audio.shape[1], audio.shape[0] / sr]
    write_manifest(df, corpus / "manifest.parquet")
    return df.loc[0, "path"]


def _corrupt(corpus: Path) -> tuple[str, str]:
    df = read_manifest(corpus / "manifest.parquet")
    (corpus / df.loc[0, "path"]).write_bytes(b"RIFF\x00\x00garbage, not a wave file")
    return df.loc[0, "path"], "not decodable"


def _low_rate(corpus: Path) -> tuple[str, str]:
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(22050 * 2) / 22050)
    rel = _replace_audio(corpus, np.stack([tone, tone], 1), 22050)
    return rel, "sample rate must be 44100 Hz (sample_rate = 22050)"


def _nan(corpus: Path) -> tuple[str, str]:
    audio = 0.3 * np.sin(2 * np.pi * 440 * np.arange(44100 * 2) / 44100)[:, None].repeat(2, 1)
    audio[1000:1010] = np.nan
    return _replace_audio(corpus, audio.astype(np.float32), 44100, "FLOAT"), "NaN or Inf"


def _short(corpus: Path) -> tuple[str, str]:
    audio = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(44100 * 0.2)) / 44100)[:, None].repeat(2, 1)
    return _replace_audio(corpus, audio, 44100), "duration must be 1.0–3600.0 s (duration_s = 0.2"


def _bad_isrc(corpus: Path) -> tuple[str, str]:
    df = read_manifest(corpus / "manifest.parquet")
    record = json.loads(df.loc[0, "metadata"])
    record["isrc"] = "QZ-SSD-26-0001"  # one digit short
    df.loc[0, "metadata"] = json.dumps(record)
    write_manifest(df, corpus / "manifest.parquet")
    return df.loc[0, "path"], "metadata record is invalid: isrc: ISRC 'QZ-SSD-26-0001' is malformed"


def _oversize_metadata(corpus: Path) -> tuple[str, str]:
    df = read_manifest(corpus / "manifest.parquet")
    record = json.loads(df.loc[0, "metadata"])
    rng = np.random.default_rng(0)
    ipi = record["writers"][0]["ipi"]
    names = ["".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), 150)) for _ in range(40)]
    record["writers"] = [{"name": n, "ipi": ipi, "share": 1.0, "role": "C"} for n in names]
    record["publishers"] = [{"name": "P", "ipi": ipi, "share": 60.0}]
    df.loc[0, "metadata"] = json.dumps(record)
    write_manifest(df, corpus / "manifest.parquet")
    return df.loc[0, "path"], "serialized metadata is over the 3,474-byte payload limit"


def _duplicate_id(corpus: Path) -> tuple[str, str]:
    df = read_manifest(corpus / "manifest.parquet")
    df.loc[1, "track_id"] = df.loc[0, "track_id"]
    write_manifest(df, corpus / "manifest.parquet")
    return df.loc[1, "path"], "duplicate track ID"


def _missing_file(corpus: Path) -> tuple[str, str]:
    df = read_manifest(corpus / "manifest.parquet")
    (corpus / df.loc[2, "path"]).unlink()
    return df.loc[2, "path"], "file not found"


def test_a_corpus_with_no_readable_file_names_every_file(corpus_copy: Path, tmp_path: Path) -> None:
    df = read_manifest(corpus_copy / "manifest.parquet")
    for rel in df["path"]:
        (corpus_copy / rel).write_bytes(b"junk")
    with pytest.raises(DataValidationError) as failure:
        validate_corpus(corpus_copy / "manifest.parquet", VALIDATE_RULES, tmp_path / "reports")
    for rel in df["path"]:
        assert f"{corpus_copy / rel}: file is missing or not decodable" in str(failure.value)


@pytest.mark.parametrize("breaker", [_corrupt, _low_rate, _nan, _short, _bad_isrc, _oversize_metadata, _duplicate_id,
                                     _missing_file])
def test_bad_data_fails_naming_file_and_problem(corpus_copy: Path, tmp_path: Path,
                                                breaker: Callable[[Path], tuple[str, str]]) -> None:
    rel, says = breaker(corpus_copy)
    validated = tmp_path / "validated"
    with pytest.raises(DataValidationError) as failure:
        validate_corpus(corpus_copy / "manifest.parquet", VALIDATE_RULES, tmp_path / "reports", validated)
    message = str(failure.value)
    lines = [line for line in message.splitlines() if line.startswith(str(corpus_copy / rel))]
    assert any(says in line for line in lines), message
    assert not validated.exists(), "nothing downstream may see a validated manifest for bad data"
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["success"] is False and report["problems"]
    assert pd.read_csv(tmp_path / "reports" / "files.csv").shape[0] == 4
