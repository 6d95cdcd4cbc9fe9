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
