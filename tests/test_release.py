"""The release gate: bounds, missing metrics, NaN."""

from __future__ import annotations

import math

import pytest

from soundsafe.release.gate import gate_failures

GATE = {"min": {"bit_acc": 0.95, "snr_db": 30.0}, "max": {"fpr": 0.0}}


def test_gate_passes_only_when_every_bound_holds() -> None:
    assert gate_failures({"bit_acc": 0.97, "snr_db": 31.0, "fpr": 0.0}, GATE) == []
    failures = gate_failures({"bit_acc": 0.90, "snr_db": 31.0, "fpr": 0.01}, GATE)
    assert len(failures) == 2
    assert failures[0].startswith("bit_acc = 0.9, needs ≥ 0.95") and "fpr" in failures[1]


def test_gate_fails_on_missing_or_nan_metrics() -> None:
    failures = gate_failures({"bit_acc": math.nan, "fpr": 0.0}, GATE)
    assert failures == ["bit_acc: not measured (gate min 0.95)", "snr_db: not measured (gate min 30.0)"]


def test_ship_names_the_models_it_can_replace(tmp_path) -> None:
    from soundsafe.release.ship import main

    for bad in ("bogus", "watermark,encoder", ","):
        with pytest.raises(SystemExit) as exit_info:
            main(["--project", str(tmp_path), "--models", bad])
        assert exit_info.value.code == 2


def test_the_model_card_names_the_real_music_packages_it_was_trained_on(tmp_path) -> None:
    import shutil
    from pathlib import Path

    import pandas as pd

    from soundsafe.release.ship import _data_card

    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", tmp_path / "params.yaml")  # profile local
    (tmp_path / "data/validated").mkdir(parents=True)
    pd.DataFrame({"split": ["train", "train", "test"], "duration_s": [90.0, 90.0, 90.0],
                  "source": ["ufoai-music/a.ogg", "nexuiz-music/b.ogg", "ufoai-music/c.ogg"]}).to_parquet(
        tmp_path / "data/validated/manifest.parquet")
    card = _data_card(tmp_path)
    assert card["corpus_source"] == "debian" and card["packages"] == ["nexuiz-music", "ufoai-music"]
    assert card["tracks"] == {"train": 2, "test": 1} and card["hours"] == 0.075 and card["excerpt_seconds"] == 90.0
