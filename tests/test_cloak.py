"""Protective noise (soundsafe.cloak): the psychoacoustic budget, the generative models, the min–min cloak, the
evaluation's arithmetic, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from soundsafe.cli.main import main
from soundsafe.cloak.budget import Budget, BudgetSpec, project
from soundsafe.cloak.models import KINDS, TOP_DB, build_model, log_mel
from soundsafe.cloak.optimize import CloakSpec, make_cloak
from soundsafe.cloak.report import EvalSpec, _effects, _paired
from soundsafe.cloak.step import StepSpec
from soundsafe.cloak.train import frechet_distance, mel_frames, train_generative
from soundsafe.evaluation.quality import nmr_db, snr_db
from tests.songs import plucked_song

SR = 44100


def _song(seed: int, seconds: float = 3.0) -> np.ndarray:
    return plucked_song(seed, seconds, noise=0.003, overtone=0.3)


def test_projection_keeps_any_noise_under_the_mask_the_snr_floor_and_16_khz() -> None:
    host = _song(0)
    budget = Budget.of(torch.from_numpy(host), BudgetSpec(min_snr_db=32.0))
    for scale in (1e-4, 1.0, 100.0):
        delta = project(torch.randn(host.size) * scale, budget).numpy()
        ref, out = host[:, None], (host + delta)[:, None]
        assert nmr_db(ref, out) < 0 and snr_db(ref, out) >= 32.0 - 1e-6
        spectrum = np.abs(np.fft.rfft(delta))
        freqs = np.fft.rfftfreq(delta.size, 1 / SR)
        assert spectrum[freqs > 17000].max() < 0.05 * spectrum[freqs < 16000].max()
    assert np.allclose(project(torch.zeros(host.size), budget).numpy(), 0)


def test_log_mel_is_differentiable_and_about_unit_scale() -> None:
    audio = torch.from_numpy(_song(1))[None].requires_grad_(True)
    mel = log_mel(audio)
    assert mel.shape[-1] == 64 and mel.shape[1] == audio.shape[1] // 512 + 1
    mel.mean().backward()
    assert audio.grad is not None and torch.isfinite(audio.grad).all() and audio.grad.abs().sum() > 0


def test_log_mel_floors_each_excerpt_top_db_under_its_maximum() -> None:
    song = torch.from_numpy(_song(8))
    quiet = song.clone()
    quiet[SR:] = 0.0  # two seconds of digital silence
    mel = log_mel(torch.stack([song, quiet]))
    span = (mel.amax(dim=(1, 2)) - mel.amin(dim=(1, 2))) * 20  # back to dB
    assert torch.all(span <= TOP_DB + 1e-3) and span[1] == pytest.approx(TOP_DB, abs=1e-3)
    assert torch.allclose(log_mel(song[None], top_db=200.0)[0, :40].amax(), mel[0, :40].amax())


def test_noise_is_never_louder_than_the_music_in_a_bin() -> None:
    host = _song(9)
    host[SR: 2 * SR] *= 1e-4  # a near-silent stretch: its threshold in quiet is far above the music
    free = Budget.of(torch.from_numpy(host), BudgetSpec(host_ceiling_db=200.0))
    capped = Budget.of(torch.from_numpy(host), BudgetSpec())
    level = capped.stft(torch.from_numpy(host)).abs()
    assert torch.all(capped.magnitude <= level * 1.1 + 1e-9)  # 1.1: float32 vs the model's float64 STFT
    assert (free.magnitude > 2 * level + 1e-9).any()  # without the ceiling the silence would take noise
    quiet = slice(SR + 4096, 2 * SR - 4096)
    added = {name: project(torch.randn(host.size), b).numpy()[quiet] for name, b in (("free", free), ("cap", capped))}
    rms = {name: float(np.sqrt(np.mean(a ** 2))) for name, a in added.items()}
    assert rms["cap"] <= 2 * np.sqrt(np.mean(host[quiet] ** 2)) < rms["free"], rms


@pytest.mark.parametrize("kind", KINDS)
def test_models_have_a_loss_and_sample(kind: str) -> None:
    model = build_model(kind)
    mel = torch.randn(2, 40, 64)
    loss = model.loss(mel)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert model.sample(3, 20, torch.Generator().manual_seed(0)).shape == (3, 20, 64)


def test_autoregressive_models_do_not_see_the_future() -> None:
    for kind in ("ar", "transformer"):
        model = build_model(kind).eval()
        mel = torch.randn(1, 30, 64)
        changed = mel.clone()
        changed[:, 20:] += 1.0
        with torch.no_grad():
            assert torch.allclose(model.predict(mel)[:, :20], model.predict(changed)[:, :20], atol=1e-5)


def test_min_min_makes_the_cloaked_music_easier_for_the_surrogates_inside_the_budget() -> None:
    tracks = [_song(2), _song(3)]
    spec = CloakSpec(rounds=3, train_steps=10, pgd_steps=3, batch=4, crop_s=1.0)
    result = make_cloak(tracks, ["ar"], spec, seed=0)
    assert result.cloaked_loss[-1] < result.clean_loss[-1]  # error-minimizing: the cloaked music is easier
    for host, delta in zip(tracks, result.deltas, strict=True):
        assert delta.shape == host.shape and np.abs(delta).max() > 0
        assert nmr_db(host[:, None], (host + delta)[:, None]) < 0
        assert snr_db(host[:, None], (host + delta)[:, None]) >= 32.0 - 1e-6
    blackbox = make_cloak(tracks[:1], ["ar", "ar"], CloakSpec(rounds=1, train_steps=2, pgd_steps=2, batch=2,
                                                              crop_s=1.0), blackbox=True)
    assert np.abs(blackbox.deltas[0]).max() > 0 and np.isfinite(blackbox.deltas[0]).all()


def test_a_trained_model_learns_and_is_measured_on_held_out_music() -> None:
    frames = mel_frames([_song(4), _song(5)])
    heldout = torch.stack([f[:32] for f in mel_frames([_song(6)])] * 2)
    trained = train_generative("ar", frames, heldout, steps=30, batch=4, crop_frames=32, lr=3e-3, seed=0,
                               eval_every=10)
    assert [s for s, _ in trained.heldout_curve] == [10, 20, 30]
    assert trained.heldout_curve[-1][1] < trained.heldout_curve[0][1]
    assert np.mean(trained.train_loss[-5:]) < np.mean(trained.train_loss[:5])
    assert np.isfinite(trained.frechet) and trained.frechet > 0


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift() -> None:
    a = np.random.default_rng(0).standard_normal((500, 4))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, a + 2.0) == pytest.approx(16.0, rel=1e-6)  # |Δμ|² = 4 × 2²


def test_effects_pair_each_seed_with_the_matching_clean_model() -> None:
    rows = [("clean", 0, 1.0, 10.0), ("clean", 1, 2.0, 30.0), ("whitebox", 0, 1.3, 25.0), ("whitebox", 1, 2.2, 55.0),
            ("clean_mp3", 0, 2.0, 20.0), ("clean_mp3", 1, 2.0, 20.0), ("whitebox_mp3", 0, 2.2, 30.0),
            ("whitebox_mp3", 1, 2.4, 30.0)]
    table = pd.DataFrame([{"version": v, "kind": "ar", "seed": s, "heldout_loss": loss, "frechet": fd,
                           "train_loss": 0.0} for v, s, loss, fd in rows])
    paired = _paired(table).set_index(["version", "seed"])
    assert paired.loc[("whitebox", 0), "loss_increase"] == pytest.approx(0.3)
    assert paired.loc[("whitebox", 1), "loss_increase"] == pytest.approx(0.1)  # against clean seed 1, not seed 0
    assert paired.loc[("whitebox_mp3", 0), "reference"] == "clean_mp3"
    out = _effects(_paired(table)).set_index("version")
    assert out.loc["whitebox", "loss_increase"] == pytest.approx(0.2)
    assert out.loc["whitebox", "loss_increase_min"] == pytest.approx(0.1)
    assert out.loc["whitebox", "frechet_ratio"] == pytest.approx(40.0 / 20.0)  # ratio of the seeds' medians
    assert out.loc["whitebox_mp3", "loss_increase"] == pytest.approx(0.15)  # against clean_mp3, not clean
    assert out.loc["clean", "loss_increase"] == 0 and out.loc["whitebox", "seeds"] == 2
    with pytest.raises(ValueError, match="seeds"):
        EvalSpec.from_params({"seeds": 0})
    outlier = pd.DataFrame([{"version": v, "kind": "ar", "seed": s, "heldout_loss": 1.0, "frechet": fd,
                             "train_loss": 0.0} for v, fds in (("clean", (10.0, 20.0, 1e10)),
                                                               ("whitebox", (30.0, 40.0, 50.0)))
                            for s, fd in enumerate(fds)])
    assert _effects(_paired(outlier)).set_index("version").loc["whitebox", "frechet_ratio"] == pytest.approx(2.0)


def test_diffusion_samples_stay_in_range_even_from_a_wild_network() -> None:
    model = build_model("diffusion")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(50.0)  # an ε-net whose outputs explode
    samples = model.sample(2, 16, torch.Generator().manual_seed(0))
    assert torch.isfinite(samples).all() and samples.abs().max() <= 3.0


def test_step_spec_refuses_the_unseen_architecture_as_a_surrogate() -> None:
    assert StepSpec.from_params({}).cloak_spec().budget.min_snr_db == 32.0
    with pytest.raises(ValueError, match="unseen"):
        StepSpec.from_params({"surrogates": ["transformer"]})
    with pytest.raises(ValueError, match="at least 2"):
        StepSpec.from_params({"meta_surrogates": ["ar"]})
    with pytest.raises(ValueError, match="unknown keys"):
        StepSpec.from_params({"round": 3})


def test_cli_cloaks_a_file_under_the_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stereo = np.stack([_song(7, 2.0), 0.5 * _song(7, 2.0)], axis=1)
    sf.write(tmp_path / "song.wav", stereo, SR)
    assert main(["cloak", str(tmp_path / "song.wav"), str(tmp_path / "c.wav"), "--rounds", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["snr_db"] >= 31.9 and out["nmr_db"] < 0
    cloaked, sr = sf.read(tmp_path / "c.wav")
    assert sr == SR and cloaked.shape == stereo.shape and not np.allclose(cloaked, stereo, atol=1e-6)
    sf.write(tmp_path / "short.wav", stereo[:1000], SR)
    assert main(["cloak", str(tmp_path / "short.wav"), str(tmp_path / "x.wav")]) == 1
    assert "at least 1 s" in capsys.readouterr().err and not (tmp_path / "x.wav").exists()
    assert main(["cloak", str(tmp_path / "none.wav"), str(tmp_path / "x.wav")]) == 1
