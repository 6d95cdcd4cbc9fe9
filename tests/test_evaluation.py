"""Evaluation: metrics on known answers, the echo baselines, the external-tool adapter, the harness and report."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from soundsafe.attacks.noise import add_at_snr
from soundsafe.audio.io import read_audio, write_wav
from soundsafe.baselines.echo import ECHO, TIME_SPREAD_ECHO, embed_echo, read_echo
from soundsafe.baselines.external import ExternalTool, ExternalToolError, bits_to_hex, hex_to_bits
from soundsafe.evaluation.cost import projection, training_cost
from soundsafe.evaluation.harness import AttackPoint, clips_from_manifest, parse_points, run_evaluation
from soundsafe.evaluation.quality import (
    log_spectral_distance_db,
    mean_ci,
    nmr_db,
    pesq_wb,
    segmental_snr_db,
    si_snr_db,
    snr_db,
)
from soundsafe.evaluation.summary import metric_key, seconds_to, training_validation_table
from soundsafe.evaluation.systems import EchoSystem, ExternalSystem, Reading, SoundSafeSystem, bit_accuracy

SR = 44100


def _music(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Harmonic tones with note changes and a little noise: enough spectral life for every metric."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    notes = 220 * 2 ** (rng.integers(0, 12, size=int(seconds * 4) + 1) / 12)
    f0 = notes[(t * 4).astype(int)]
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(0.25 / k * np.sin(k * phase) for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return (x + 0.003 * rng.standard_normal(t.size)).astype(np.float32)[:, None].repeat(2, axis=1)


# -- imperceptibility metrics on known answers ---------------------------------------------------------------

def test_unchanged_signal_scores_as_identical() -> None:
    x = _music()
    assert snr_db(x, x) == 200.0 and si_snr_db(x, x) == 200.0
    assert segmental_snr_db(x, x, SR) == 35.0
    assert log_spectral_distance_db(x, x) == pytest.approx(0.0, abs=1e-9)
    assert pesq_wb(x, x, SR) == pytest.approx(4.64, abs=0.02)


@pytest.mark.parametrize("target", [10.0, 20.0, 30.0])
def test_noise_at_a_known_snr_reads_that_snr(target: float) -> None:
    x = _music()
    rng = np.random.default_rng(1)
    y = add_at_snr(x, rng.standard_normal(x.shape).astype(np.float32), target)
    assert snr_db(x, y) == pytest.approx(target, abs=0.05)
    assert si_snr_db(x, y) == pytest.approx(target, abs=0.3)
    assert abs(segmental_snr_db(x, y, SR) - target) < 3.0  # per-frame SNRs scatter around the global one
    assert log_spectral_distance_db(x, y) > log_spectral_distance_db(x, add_at_snr(x, rng.standard_normal(
        x.shape).astype(np.float32), target + 20))
    # louder noise is less masked and less pleasant
    assert nmr_db(x, y, SR) > nmr_db(x, add_at_snr(x, rng.standard_normal(x.shape).astype(np.float32),
                                                   target + 20), SR) + 15
    assert pesq_wb(x, y, SR) < 4.5


def test_gain_change_costs_snr_but_not_si_snr() -> None:
    x = _music()
    assert snr_db(x, 0.5 * x) == pytest.approx(6.02, abs=0.01)
    assert si_snr_db(x, 0.5 * x) == 200.0


def test_metrics_reject_mismatched_signals() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        snr_db(np.zeros((100, 2)), np.zeros((99, 2)))


def test_mean_ci_matches_student_t() -> None:
    ci = mean_ci([1.0, 2.0, 3.0])
    assert ci.mean == 2.0 and ci.n == 3
    assert ci.high - ci.mean == pytest.approx(4.3027 / math.sqrt(3), rel=1e-3)
    assert mean_ci([5.0]).low == 5.0 and math.isnan(mean_ci([]).mean)


# -- bit accuracy ---------------------------------------------------------------------------------------------

def test_bit_accuracy_counts_a_known_error_pattern() -> None:
    bits = np.random.default_rng(0).integers(0, 2, (4, 8))
    read = bits.copy()
    read[0, 0] ^= 1
    read[2, 5] ^= 1
    read[3, 7] ^= 1
    assert bit_accuracy(bits, Reading(True, 1.0, read, np.arange(4))) == pytest.approx(29 / 32)
    # rows read from later units (a grid found one unit in) are compared with those units
    assert bit_accuracy(bits, Reading(True, 1.0, bits[1:], np.arange(1, 4))) == 1.0
    assert bit_accuracy(bits, Reading(False, 0.0, np.zeros((0, 8), int), np.zeros(0, int))) == 0.5


def test_aligned_bit_accuracy_finds_a_crop_offset_without_inflating_failed_reads() -> None:
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, (40, 64))
    cropped = Reading(True, 1.0, bits[17:37], np.arange(20))  # a crop: read from unit 17 on, numbered from 0
    assert bit_accuracy(bits, cropped) < 0.6
    assert bit_accuracy(bits, cropped, align=True) == 1.0
    failed = [bit_accuracy(bits, Reading(False, 0.0, rng.integers(0, 2, (20, 64)), np.arange(20)), align=True)
              for _ in range(20)]
    assert abs(float(np.mean(failed)) - 0.5) < 0.02  # the shift is fitted on other rows than it is scored on


# -- echo baselines -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [ECHO, TIME_SPREAD_ECHO], ids=["echo", "tse"])
def test_echo_baselines_carry_bits_and_keep_unmarked_audio_unmarked(config) -> None:
    x = _music(4.0)
    bits = np.random.default_rng(3).integers(0, 2, 16)
    y = embed_echo(x, SR, bits, config)
    assert y.shape == x.shape and y.dtype == np.float32
    # echo energy: a single echo of amplitude a leaves the host about -20 log10(a) dB above the echo
    assert snr_db(x, y) == pytest.approx(-20 * math.log10(config.alpha), abs=3.0)
    reading = read_echo(y, SR, config)
    assert reading.detected
    expected = bits[(np.arange(reading.bits.size) + reading.first_index) % bits.size]
    assert (reading.bits == expected).mean() >= 0.85
    assert (reading.message(16) == bits).mean() >= 0.9
    assert not read_echo(x, SR, config).detected


def test_external_adapter_runs_a_real_command_line_watermarker(tmp_path: Path) -> None:
    python = sys.executable
    tool = ExternalTool(name="echo-cli", embed=f"{python} -m soundsafe.baselines embed {{input}} {{output}} "
                                                "--payload {payload}",
                        detect=f"{python} -m soundsafe.baselines detect {{input}} --bits {{bits}}",
                        payload_regex=r"payload (?P<payload>[0-9a-f]+)", payload_bits=16, bits_per_second=10)
    assert tool.available()
    system = ExternalSystem(tool)
    x = _music(4.0)
    embedded = system.embed(x, SR, {}, seed=5)
    assert embedded.audio.shape == x.shape and snr_db(x, embedded.audio) < 30
    reading = system.read(embedded.audio, SR)
    assert reading.detected and bit_accuracy(embedded.bits, reading) >= 15 / 16
    assert not system.read(x, SR).detected
    missing = ExternalTool("nothing", "no-such-program-xyz {input}", "no-such-program-xyz {input}", "(?P<payload>x)")
    assert not missing.available()
    with pytest.raises(ExternalToolError, match="not found on PATH"):
        missing.embed_audio(x, SR, np.zeros(128, int))
    assert bits_to_hex(hex_to_bits("a5c3", 16)) == "a5c3"


def test_baseline_cli_reads_back_its_payload(tmp_path: Path) -> None:
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    write_wav(src, _music(4.0), SR)
    run = [sys.executable, "-m", "soundsafe.baselines"]
    assert subprocess.run([*run, "embed", str(src), str(out), "--payload", "beef"]).returncode == 0
    found = subprocess.run([*run, "detect", str(out), "--bits", "16"], capture_output=True, text=True)
    assert found.returncode == 0 and found.stdout.startswith("payload beef")
    assert read_audio(out)[0].shape == read_audio(src)[0].shape
    clean = subprocess.run([*run, "detect", str(src), "--bits", "16"], capture_output=True, text=True)
    assert clean.returncode == 1 and "no watermark" in clean.stdout


# -- the harness, summary and cost ----------------------------------------------------------------------------

def test_attack_points_are_checked_against_the_registry() -> None:
    points = parse_points(["clean", "mp3:64k", "white_noise"])
    assert [p.label for p in points] == ["clean", "mp3 64k", "white_noise 20dB"]
    assert points[1].family == "codec"
    with pytest.raises(ValueError, match="no strength '7k'"):
        parse_points(["mp3:7k"])
    with pytest.raises(ValueError, match="unknown attack"):
        parse_points(["nosuch"])


def test_harness_numbers_for_the_echo_baseline_are_plausible(tiny_corpus_dir: Path) -> None:
    from soundsafe.watermark.config import ModelConfig
    from soundsafe.watermark.model import build_model

    clips = clips_from_manifest(tiny_corpus_dir / "manifest.parquet", "train", 2.0)
    systems = [EchoSystem(ECHO, "echo_hiding"), SoundSafeSystem(build_model(ModelConfig()))]
    points = [AttackPoint(None), AttackPoint("white_noise", "10dB"), AttackPoint("mp3", "128k")]
    tables = run_evaluation(clips, systems, points, [AttackPoint(None)], [AttackPoint(None)], [1.0, 2.0], 1,
                            with_pesq=False)
    echo = tables.robustness[tables.robustness.system == "echo_hiding"].groupby("point")["bit_acc"].mean()
    assert echo["clean"] >= 0.85 and echo["white_noise 10dB"] < echo["clean"]
    q = tables.quality.groupby("system").mean(numeric_only=True)
    assert 11.0 < q.loc["echo_hiding", "snr_db"] < 17.0  # alpha 0.2 → about 14 dB
    assert q.loc["soundsafe", "snr_db"] > q.loc["echo_hiding", "snr_db"]
    assert not tables.unmarked["detected"].any()  # no false positives on the clean unmarked clips
    ss = tables.robustness[tables.robustness.system == "soundsafe"]
    assert ss[ss.point == "clean"]["bit_acc"].min() >= 0.9
    assert "isrc_ok" in ss.columns  # (2 s clips hold too few chunks for the 3-packet core: read in other tests)
    assert set(tables.recovery["seconds"]) <= {1.0, 2.0}


def test_seconds_to_and_metric_keys() -> None:
    curve = pd.DataFrame({"seconds": [2, 3, 4, 6], "isrc_rate": [0.1, 0.5, 0.92, 1.0]})
    assert seconds_to(curve, "isrc_rate") == 4
    assert math.isnan(seconds_to(curve.assign(isrc_rate=0.2), "isrc_rate"))
    assert metric_key("eq ±6dB") == "eq_pm6dB" and metric_key("speed +1%") == "speed_p1pct"


def test_training_validation_table_puts_the_untrained_carrier_before_every_phase() -> None:
    val = {"bit_acc_clean": 0.99, "bit_acc_mp3_128k": 0.97, "bit_acc_mp3_64k": 0.9, "bit_acc_aac_128k": 0.95,
           "bit_acc_noise_20db": 0.8, "bit_acc_robust": 0.905, "snr_db": 33.04}
    phases = {"core": {**{f"val_{k}": v + (0.01 if k != "snr_db" else 0) for k, v in val.items()},
                       **{f"start_val_{k}": v for k, v in val.items()}, "best_step": 300},
              "variable": {**{f"val_{k}": v for k, v in val.items()}, "best_step": 0},
              "realtime": {"steps": 10}}  # no validation figures (an old run): left out
    table = training_validation_table(phases)
    assert list(table["model"]) == ["untrained carrier", "core", "variable"]
    assert list(table["kept step"]) == [0, 300, 0]
    assert table.loc[0, "noise 20 dB"] == 80.0 and table.loc[1, "noise 20 dB"] == 81.0
    assert table.loc[1, "SNR dB"] == 33.0 and table.loc[1, "mean under attack"] == 91.5


def test_projection_is_steps_over_throughput_times_price() -> None:
    training = training_cost({"core": {"steps_per_second": 4.0, "steps": 40, "steps_to_target": 20,
                                       "audio_seconds_per_second": 32.0}}, {"core": "a100"})
    assert training[0]["seconds_per_batch"] == 0.25
    configured = projection(training, {"core": (8, 64)}, {"core": 36_000}, {"a100": 10.0}, {"a100": 2.0})
    assert configured[0]["hours"] == pytest.approx(5.0) and configured[0]["usd"] == pytest.approx(50.0)
    scaled = projection(training, {"core": (8, 64)}, {"core": 36_000}, {"a100": 10.0}, {"a100": None})
    assert scaled[0]["steps_per_second"] == pytest.approx(4.0 * 8 / 64)  # same audio throughput, bigger batch
    assert scaled[0]["seed_usd_low"] == 35_000


def test_evaluate_command_writes_the_report(tmp_path: Path, tiny_corpus_dir: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    for wav in sorted((tiny_corpus_dir / "audio").rglob("*.wav"))[:1]:
        x, sr = read_audio(wav)
        write_wav(audio / "song one.wav", x, sr)
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "soundsafe", "evaluate", "--audio", str(audio), "--out", str(out),
                           "--attacks", "clean,mp3:128k", "--tries", "1", "--baselines", "echo"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| soundsafe |" in done.stdout and "| echo_hiding |" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.5 <= metrics["soundsafe.bit_acc.clean"] <= 1.0 and metrics["cost.embed_realtime_factor"] > 0
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2 and "Bit accuracy vs attack strength" in html
    for name in ("quality.csv", "robustness.csv", "bit_accuracy.csv", "summary.md", "figures/bit_accuracy.png"):
        assert (out / name).is_file()
    bad = subprocess.run([sys.executable, "-m", "soundsafe", "evaluate", "--audio", str(audio), "--out",
                          str(tmp_path / "x"), "--attacks", "mp3:1k"], capture_output=True, text=True)
    assert bad.returncode != 0 and "no strength '1k'" in bad.stderr and not (tmp_path / "x").exists()


def test_evaluate_split_benchmark_runs_the_step_harness_on_every_track(tmp_path: Path, tiny_corpus_dir: Path) -> None:
    from soundsafe.manifest import MANIFEST_NAME
    from soundsafe.watermark.checkpoint import save_checkpoint
    from soundsafe.watermark.model import build_model

    root = Path(__file__).resolve().parents[1]
    save_checkpoint(tmp_path / "model.pt", build_model())
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, str(root / "benchmarks/evaluate_split.py"), "--params",
                           str(root / "params.yaml"), "--profile", "ci", "--manifest",
                           str(tiny_corpus_dir / MANIFEST_NAME), "--model", str(tmp_path / "model.pt"),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("1 test clips of 4 s") and "| soundsafe |" in done.stdout
    excerpts = pd.read_csv(out / "excerpts.csv")
    assert list(excerpts["attack"])[:-1] == ["clean", "mp3 128k", "white_noise 20dB", "resample 16kHz"]  # smoke
    assert 0.5 <= json.loads((out / "metrics.json").read_text())["soundsafe.bit_acc.clean"] <= 1.0
