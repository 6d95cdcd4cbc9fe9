"""Shared fixtures: a tiny demo corpus rendered once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

VALIDATE_RULES = {
    "sample_rate": 44100, "channels": [1, 2], "min_seconds": 1.0, "max_seconds": 3600.0, "max_clip_ratio": 0.001,
    "silence_dbfs": -60.0, "max_silence_ratio": 0.5, "require_metadata": True,
}


@pytest.fixture(scope="session")
def tiny_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 2-second demo tracks with a manifest (rendered once, copied by tests that modify it)."""
    from soundsafe.corpus.build import build_demo_corpus

    out = tmp_path_factory.mktemp("corpus") / "corpus"
    build_demo_corpus(out, tracks=4, seconds=2.0, sample_rate=44100, seed=7,
                      splits={"train": 0.5, "val": 0.25, "test": 0.25}, workers=1)
    return out


@pytest.fixture
def corpus_copy(tiny_corpus_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny corpus that a test may break."""
    dest = tmp_path / "corpus"
    shutil.copytree(tiny_corpus_dir, dest)
    return dest


@pytest.fixture
def demo_record() -> dict:
    """A typical, valid record (the shape rights holders send: ERN recording/release + CWR work)."""
    return {
        "isrc": "US-RC1-76-07839", "iswc": "T-034.524.680-1", "title": "Harbour Lights at Dawn",
        "display_artist": "Harbour Lights",
        "writers": [{"name": "Mira Okafor", "ipi": "00014107338", "share": 25, "role": "CA"},
                    {"name": "Tomas Lindqvist", "ipi": "01145982828", "share": 25, "role": "C"}],
        "publishers": [{"name": "SoundSafe Music Publishing", "ipi": "00045620792", "share": 50, "role": "E"}],
        "upc": "000123456784", "grid": "A1-2425G-ABC1234002-M", "catalogue_number": "SSD-00001",
        "label": "SoundSafe Demo Records", "release_date": "2026-03-14", "party_id": "PADPIDA2014120301K",
        "p_line": "℗ 2026 SoundSafe Demo Records", "c_line": "© 2026 SoundSafe Demo Records",
        "territories": ["GB", "IE"], "language": "en", "genre": "Folk", "duration": "PT205S",
    }
