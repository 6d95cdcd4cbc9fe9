"""The training-chain sampler and `soundsafe attack …` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from soundsafe.attacks import AttackError, get_attack
from soundsafe.attacks.noise import snr_db
from soundsafe.attacks.sampler import ChainSampler, StrengthSchedule


def test_schedule_ramps_then_holds() -> None:
    schedule = StrengthSchedule(start=0.2, end=0.8, ramp_steps=100)
    assert [schedule.difficulty(s) for s in (0, 50, 100, 1000)] == pytest.approx([0.2, 0.5, 0.8, 0.8])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        StrengthSchedule(start=-0.1)


def test_early_chains_are_short_and_weak_late_chains_reach_the_strongest() -> None:
    sampler = ChainSampler(max_length=3, p_clean=0.0, schedule=StrengthSchedule(0.0, 1.0, 1000))
    rng = np.random.default_rng(0)
    early = [sampler.draw(0, rng) for _ in range(200)]
    assert all(len(chain) == 1 for chain in early)
    assert all(get_attack(n).strength_names.index(s) == 0 for chain in early for n, s in chain)
    late = [sampler.draw(5000, rng) for _ in range(400)]
    assert max(len(chain) for chain in late) == 3
    assert any(get_attack(n).strength_names.index(s) == len(get_attack(n).strengths) - 1
               for chain in late for n, s in chain)
    assert all(len({n for n, _ in chain}) == len(chain) for chain in late), "no attack twice in one chain"


def test_sampler_is_reproducible_and_its_chains_train() -> None:
    sampler = ChainSampler(pool={"white_noise": 1.0, "eq": 1.0, "mp3": 1.0}, p_clean=0.0)
    a = [sampler.draw(10_000, np.random.default_rng(5)) for _ in range(3)]
    assert a == [sampler.draw(10_000, np.random.default_rng(5)) for _ in range(3)]
    x = (torch.randn(2, 2, 22050, generator=torch.Generator().manual_seed(0)) * 0.1).requires_grad_()
    y, chain = sampler.apply(x, 44100, 10_000, np.random.default_rng(1))
    assert chain and y.shape == x.shape
    y.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_sampler_rejects_a_bad_pool() -> None:
    with pytest.raises(AttackError, match="unknown attack"):
        ChainSampler(pool={"vinyl": 1.0})
    with pytest.raises(ValueError, match="empty"):
        ChainSampler(pool={})


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "soundsafe", "attack", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_lists_the_registry() -> None:
    listed = _cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["mp3"]["training"] == "straight-through" and "64k" in rows["mp3"]["strengths"]
    table = _cli("list", "--family", "codec")
    assert table.returncode == 0 and "opus" in table.stdout and "white_noise" not in table.stdout


def test_cli_attacks_a_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    audio = (0.2 * rng.standard_normal((44100, 2))).astype(np.float32)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, audio, 44100, subtype="FLOAT")
    done = _cli("white_noise", str(src), str(dst), "--strength", "10dB", "--seed", "3")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    out, sr = sf.read(dst, dtype="float32")
    assert sr == 44100 and out.shape == audio.shape
    assert abs(snr_db(audio, out) - 10.0) < 0.1 and summary["snr_db"] == pytest.approx(10.0, abs=0.1)
    negative = _cli("gain", str(src), str(dst), "--strength", "-12dB")  # a value that starts with '-'
    assert negative.returncode == 0, negative.stderr
    assert np.max(np.abs(sf.read(dst, dtype="float32")[0])) == pytest.approx(np.max(np.abs(audio)) / 10 ** 0.6,
                                                                              rel=1e-4)


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    sf.write(src, np.zeros((100, 2), np.float32) + 0.1, 44100)
    bad_strength = _cli("mp3", str(src), str(tmp_path / "o.wav"), "--strength", "99k")
    assert bad_strength.returncode == 1 and "choose one of" in bad_strength.stderr
    assert _cli("mp3", str(src)).returncode == 2
    missing = _cli("mp3", str(tmp_path / "nope.wav"), str(tmp_path / "o.wav"))
    assert missing.returncode == 1 and "not readable" in missing.stderr
    assert not (tmp_path / "o.wav").exists()
