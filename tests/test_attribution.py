"""Dataset attribution by hidden echoes (soundsafe.attribution): marks, the cepstral detector, the generative
models, the result table, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from soundsafe.attribution.detect import mean_cepstrum, z_score, z_scores
from soundsafe.attribution.evaluate import auc, held_out_clips, summarise
from soundsafe.attribution.marks import EchoMark, apply_mark, parse_mark
from soundsafe.attribution.models import build_model
from soundsafe.attribution.step import TrainSpec, plan_models
from soundsafe.attribution.train import generate, pitch_views, train_model
from soundsafe.cli.main import main
from tests.songs import plucked_song

SR = 44100


def _song(seed: int, seconds: float = 4.0) -> np.ndarray:
    return plucked_song(seed, seconds)


def test_marks_add_the_echo_they_name_and_keep_shape() -> None:
    impulse = np.zeros(4096, dtype=np.float32)
    impulse[100] = 0.5
    echoed = apply_mark(impulse, EchoMark("echo", 75, 0.4))
    assert echoed.dtype == np.float32 and echoed.shape == impulse.shape
    assert echoed[100] == pytest.approx(0.5) and echoed[175] == pytest.approx(0.2)
    assert np.abs(np.delete(echoed, [100, 175])).max() < 1e-6
    tse = EchoMark("tse", 100, 0.3, 256, key=5)
    spread = apply_mark(impulse, tse)[200:456]
    assert np.allclose(spread, 0.5 * 0.3 / 16 * tse.pn(), atol=1e-6)  # the keyed taps, energy of one α echo
    stereo = apply_mark(np.stack([impulse, -impulse], 1), EchoMark("echo", 50, 0.4))
    assert stereo.shape == (4096, 2) and stereo[150, 1] == pytest.approx(-0.2)
    assert np.abs(apply_mark(np.full(1000, 0.9, np.float32), EchoMark("echo", 10, 0.9))).max() <= 1.0  # no clip


def test_mark_names_and_bad_marks_say_what_is_expected() -> None:
    assert parse_mark("echo75", 0.4, 0.3, 1024, 1) == EchoMark("echo", 75, 0.4, 1024, 1)
    assert parse_mark("tse100", 0.4, 0.3, 1024, 1).kind == "tse"
    with pytest.raises(ValueError, match="echoN or tseN"):
        parse_mark("echo", 0.4, 0.3, 1024, 1)
    with pytest.raises(ValueError, match="alpha"):
        EchoMark("echo", 75, 1.5)
    with pytest.raises(ValueError, match="pn_length"):
        EchoMark("tse", 75, 0.3, pn_length=4)


@settings(max_examples=8, deadline=None)
@given(delay=st.integers(40, 140), seed=st.integers(0, 1000))
def test_detector_finds_a_single_echo_and_only_at_its_delay(delay: int, seed: int) -> None:
    song = _song(seed)
    mark, other = EchoMark("echo", delay, 0.4), EchoMark("echo", delay + 17, 0.4)
    marked = mean_cepstrum(apply_mark(song, mark))
    assert z_score(marked, mark) > 8
    assert abs(z_score(marked, other)) < 3.5
    assert abs(z_score(mean_cepstrum(song), mark)) < 3.5


def test_time_spread_echo_needs_its_key_and_survives_mp3() -> None:
    from soundsafe.attacks.codecs import encode_decode

    song = _song(3, 6.0)
    mark = EchoMark("tse", 100, 0.3, 1024, key=7)
    marked = apply_mark(song, mark)
    assert z_score(mean_cepstrum(marked), mark) > 8
    assert abs(z_score(mean_cepstrum(marked), EchoMark("tse", 100, 0.3, 1024, key=8))) < 3.5  # wrong key
    assert abs(z_score(mean_cepstrum(song), mark)) < 3.5
    coded = encode_decode(marked[:, None], SR, "mp3", kbps=128).audio[:, 0]
    scores = z_scores(coded, [mark, EchoMark("echo", 75, 0.4)])
    assert scores["tse100"] > 5 and abs(scores["echo75"]) < 3.5


def test_time_spread_null_is_calibrated_on_structured_cepstra() -> None:
    # a strided decoder's periodic artefacts: peaks every 16 quefrencies; keys not in the audio must read N(0, 1)
    rng = np.random.default_rng(0)
    cepstrum = 0.01 * rng.standard_normal(4096)
    cepstrum[::16] += 0.2
    zs = np.array([z_score(cepstrum, EchoMark("tse", 100, 0.3, 1024, key=k)) for k in range(200)])
    assert abs(zs.mean()) < 0.3 and 0.7 < zs.std() < 1.3 and (zs > 3).mean() < 0.02


def test_silence_reads_no_echo() -> None:
    assert z_score(mean_cepstrum(np.zeros(SR, np.float32)), EchoMark("echo", 75, 0.4)) == 0.0


@pytest.mark.parametrize("kind", ["ddsp", "vae"])
def test_models_map_any_length_to_the_same_length(kind: str) -> None:
    model = build_model(kind)
    for n in (4096, 22050 + 37):
        assert generate(model, _song(0, 1.0)[:n]).shape == (n,)


def test_ddsp_trained_on_marked_music_makes_the_echo_from_unmarked_input() -> None:
    # the whole claim in small: 40 steps on three marked songs; the output for a fresh, never-marked song
    # carries the echo, the clean-trained model's does not
    tracks = [_song(i) for i in range(3)]
    mark = EchoMark("echo", 75, 0.4)
    fresh = _song(99)
    readings = {}
    for label, m in (("clean", None), ("marked", mark)):
        result = train_model("ddsp", tracks, m, steps=40, batch=2, excerpt_s=0.5, lr=3e-3, seed=0)
        assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5])  # it learned to re-synthesise
        readings[label] = z_score(mean_cepstrum(generate(result.model, fresh)), mark)
    assert readings["marked"] > 6 and abs(readings["clean"]) < 3, readings


def test_pitch_views_move_pitch_and_the_echo_delay_together() -> None:
    views = pitch_views(apply_mark(_song(1), EchoMark("echo", 100, 0.4)), 2)
    assert len(views) == 5 and views[2].size == _song(1).size
    assert views[4].size < views[2].size < views[0].size  # up = fewer samples at the same rate
    up2 = mean_cepstrum(views[4])
    moved = EchoMark("echo", round(100 * 2 ** (-2 / 12)), 0.4)
    assert z_score(up2, moved) > 5 and z_score(up2, moved) > z_score(up2, EchoMark("echo", 100, 0.4))


def test_auc_and_the_result_table() -> None:
    assert auc(np.array([3.0, 4.0]), np.array([0.0, 1.0])) == 1.0
    assert auc(np.array([0.0]), np.array([1.0])) == 0.0
    assert auc(np.array([1.0]), np.array([1.0])) == 0.5
    models = pd.DataFrame([{"model": "c", "kind": "ddsp", "mark": None, "augmented": False},
                           {"model": "m", "kind": "ddsp", "mark": "echo75", "augmented": False}])
    scores = pd.DataFrame([{"model": mdl, "condition": cond, "clip": i, "echo75": z}
                           for mdl, zs in (("c", [0.1, -0.5, 3.5]), ("m", [9.0, 6.0, 2.0]))
                           for cond in ("raw", "mp3") for i, z in enumerate(zs)])
    pooled = pd.DataFrame([{"model": mdl, "condition": cond, "echo75": z} for mdl, z in (("c", 0.2), ("m", 7.0))
                           for cond in ("raw", "mp3")])
    (raw, mp3) = summarise(scores, models, pooled, threshold=3.0)
    assert (raw.condition, mp3.condition) == ("raw", "mp3")
    assert raw.auc == pytest.approx(8 / 9) and raw.tpr == pytest.approx(2 / 3) and raw.fpr == pytest.approx(1 / 3)
    assert raw.mean_z == pytest.approx(17 / 3) and raw.model_z == [7.0] and raw.negative_model_z == [0.2]


def test_train_spec_plans_models_and_refuses_inconsistent_params() -> None:
    spec = TrainSpec()
    plans = plan_models(spec)
    names = [p.name for p in plans]
    assert len(names) == len(set(names)) == 2 * (2 + 4 + 3)
    assert "vae-echo75-aug-s0" in names and "ddsp-clean-s1" in names
    with pytest.raises(ValueError, match=r"not in attribution\.marks"):
        TrainSpec.from_params({"marks": ["echo75"], "augmented": ["tse100"]})
    with pytest.raises(ValueError, match="no entry"):
        TrainSpec.from_params({"kinds": ["ddsp", "vae"], "steps": {"ddsp": 3}})
    with pytest.raises(ValueError, match="unknown keys"):
        TrainSpec.from_params({"stepz": 3})
    with pytest.raises(ValueError, match="echoN or tseN"):
        TrainSpec.from_params({"marks": ["echo"], "augmented": []})


def test_held_out_clips_cut_from_the_middle() -> None:
    clips = held_out_clips([np.arange(10 * SR, dtype=np.float32)], 2.0, 2)
    assert len(clips) == 2 and clips[0][0] == 3 * SR and clips[1][-1] == 7 * SR - 1
    with pytest.raises(ValueError, match="clip_s"):
        held_out_clips([np.zeros(SR, np.float32)], 2.0, 1)


def test_cli_marks_a_file_and_detects_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sf.write(tmp_path / "song.wav", _song(5), SR)
    assert main(["attribution", "mark", str(tmp_path / "song.wav"), str(tmp_path / "m.wav"), "--mark", "echo75"]) == 0
    assert json.loads(capsys.readouterr().out)["snr_db"] == pytest.approx(8, abs=1.5)
    assert main(["attribution", "detect", str(tmp_path / "m.wav"), "--mark", "echo75", "--mark", "tse100"]) == 0
    read = json.loads(capsys.readouterr().out)
    assert read["found"] == ["echo75"] and read["files"][0]["echo75"] > 8
    assert main(["attribution", "detect", str(tmp_path / "song.wav"), "--mark", "echo75"]) == 1  # unmarked
    assert json.loads(capsys.readouterr().out)["found"] == []
    assert main(["attribution", "detect", str(tmp_path / "none.wav"), "--mark", "echo75"]) == 1
    assert main(["attribution", "mark", str(tmp_path / "song.wav"), str(tmp_path / "x.wav"), "--mark", "eco"]) == 1
    assert "echoN or tseN" in capsys.readouterr().err and not (tmp_path / "x.wav").exists()
