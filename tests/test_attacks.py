"""The attack registry's contracts: lengths, rates, channels, exact SNRs, real codecs, gradients, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundsafe.attacks import ATTACKS, AttackError, AttackInputError, apply_attack, apply_training_attack, get_attack
from soundsafe.attacks.codecs import encode_decode
from soundsafe.attacks.noise import snr_db

SR = 44100
ALL_STRENGTHS = [(a.name, s) for a in ATTACKS.values() for s in a.strength_names]
RANDOM_ATTACKS = ("white_noise", "pink_noise", "background", "crowd", "eq", "reverb", "crop", "cut", "time_shift",
                  "concert")


def music(seconds: float, channels: int = 2, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Harmonic tones with an envelope plus a little noise: music-like enough for codecs and dynamics."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    out = []
    for c in range(channels):
        f0 = 220.0 * (1.5 ** c)
        tone = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
        env = 0.6 + 0.4 * np.sin(2 * np.pi * 2.0 * t) ** 2
        out.append(0.15 * tone * env + 0.01 * rng.standard_normal(t.size))
    return np.stack(out, axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return music(1.5)


def expected_frames(name: str, params: dict, frames: int) -> int | None:
    """The documented output length, or None where it is a bounded range (cut)."""
    if name in ("speed", "time_stretch"):
        return round(frames / params["factor"])
    if name == "crop":
        return round(frames * params["keep"])
    if name == "cut":
        return None
    return frames


@pytest.mark.parametrize(("name", "strength"), ALL_STRENGTHS, ids=[f"{n}-{s}" for n, s in ALL_STRENGTHS])
def test_every_attack_keeps_its_length_rate_and_channel_contract(clip: np.ndarray, name: str, strength: str) -> None:
    out = apply_attack(name, clip, SR, strength, seed=1)
    assert out.dtype == np.float32 and out.ndim == 2 and out.shape[1] == clip.shape[1]
    assert np.all(np.isfinite(out))
    want = expected_frames(name, dict(get_attack(name).strength(strength).params), clip.shape[0])
    if want is None:
        assert clip.shape[0] // 2 <= out.shape[0] < clip.shape[0]
    else:
        assert out.shape[0] == want
    if name != "polarity" and out.shape == clip.shape:
        assert not np.allclose(out, clip, atol=1e-6), "the attack must change the audio"


@pytest.mark.parametrize("name", list(ATTACKS))
def test_same_seed_same_output(clip: np.ndarray, name: str) -> None:
    first = apply_attack(name, clip, SR, seed=7)
    np.testing.assert_array_equal(first, apply_attack(name, clip, SR, seed=7))
    if name in RANDOM_ATTACKS:
        other = apply_attack(name, clip, SR, seed=8)
        assert other.shape != first.shape or not np.array_equal(other, first)


@pytest.mark.parametrize("name", ["white_noise", "pink_noise", "background", "crowd"])
def test_noise_attacks_hit_their_snr_within_a_tenth_of_a_db(clip: np.ndarray, name: str) -> None:
    for strength in get_attack(name).strengths:
        out = apply_attack(name, clip, SR, strength.name, seed=3)
        assert abs(snr_db(clip, out) - strength.params["snr_db"]) < 0.1, strength.name


CBR = [(a, s.name, s.params["kbps"]) for a in ("mp3", "aac", "opus") for s in get_attack(a).strengths]


@pytest.mark.parametrize(("codec", "strength", "kbps"), CBR, ids=[f"{c}-{s}" for c, s, _ in CBR])
def test_codecs_really_code_at_the_asked_bitrate(codec: str, strength: str, kbps: int) -> None:
    audio = music(4.0, seed=2)
    result = encode_decode(audio, SR, codec, kbps=kbps)
    assert abs(result.kbps - kbps) / kbps < 0.10, f"{codec} {kbps} kbps coded at {result.kbps:.1f}"
    assert result.audio.shape == audio.shape
    assert 0 < snr_db(audio, result.audio) < 60, "a lossy codec must change the audio, but not destroy it"
    # the encoder delay is removed: the decoded audio lines up with the input (correlation peaks at lag 0)
    a, b = audio[:, 0], result.audio[:, 0]
    lags = range(-64, 65)
    best = max(lags, key=lambda lag: float(np.dot(a[64:-64], np.roll(b, -lag)[64:-64])))
    assert best == 0


def test_mp3_vbr_quality_orders_the_bitrate() -> None:
    audio = music(3.0, seed=4)
    rates = [encode_decode(audio, SR, "mp3", vbr_quality=q).kbps for q in (0, 5, 9)]
    assert rates[0] > rates[1] > rates[2]


def test_codecs_convert_rates_and_channel_counts_as_documented() -> None:
    audio = music(2.0, channels=3, sr=44100)
    opus = encode_decode(audio, 44100, "opus", kbps=64)
    assert opus.coded_rate == 48000 and opus.audio.shape == audio.shape
    odd = music(1.0, channels=1, sr=37000)
    mp3 = encode_decode(odd, 37000, "mp3", kbps=128)
    assert mp3.coded_rate == 44100 and mp3.audio.shape == odd.shape


def test_mp3_bitrate_out_of_range_for_the_rate_is_a_clear_error() -> None:
    with pytest.raises(AttackInputError, match=r"MP3 at 22050 Hz codes 8–160 kbps, not 320"):
        apply_attack("mp3", music(1.0, sr=22050), 22050, "320k")


def test_mono_input_stays_mono_and_1d_stays_1d() -> None:
    mono = music(1.0, channels=1)
    for name in ("mp3", "reverb", "eq", "concert", "layered"):
        assert apply_attack(name, mono, SR).shape == mono.shape
        assert apply_attack(name, mono[:, 0], SR).shape == (mono.shape[0],)


@pytest.mark.parametrize(("audio", "sr", "message"), [
    (np.zeros((0, 2), np.float32), SR, "empty"),
    (np.full((1000, 2), np.nan, np.float32), SR, "NaN"),
    (np.zeros((2, 44100), np.float32) + 0.1, SR, "looks like"),
    (np.zeros((100, 2, 2), np.float32), SR, "must be"),
    (np.ones((1000, 2), np.float32), 0, "sample rate"),
    (np.array([["a", "b"]]), SR, "numeric"),
])
def test_bad_input_is_a_clear_error(audio: np.ndarray, sr: int, message: str) -> None:
    with pytest.raises(AttackInputError, match=message):
        apply_attack("mp3", audio, sr)


def test_integer_pcm_is_scaled_and_silence_has_no_snr() -> None:
    pcm = (music(0.5) * 32767).astype(np.int16)
    out = apply_attack("gain", pcm, SR, "-6dB")
    assert np.max(np.abs(out)) < 1.0
    with pytest.raises(AttackInputError, match="silent"):
        apply_attack("white_noise", np.zeros((1000, 2), np.float32), SR)


def test_unknown_attack_and_strength_name_the_choices() -> None:
    with pytest.raises(AttackError, match="see `soundsafe attack list`"):
        apply_attack("nope", music(0.1), SR)
    with pytest.raises(AttackError, match="choose one of: 320k, 192k, 128k, 64k"):
        apply_attack("mp3", music(0.1), SR, "99k")


def test_time_shift_moves_the_audio_without_changing_it() -> None:
    audio = music(1.0)
    out = apply_attack("time_shift", audio, SR, "±100ms", seed=5)
    shift = int(np.argmax(np.abs(np.fft.irfft(np.fft.rfft(out[:, 0], 2 * SR) *
                                              np.conj(np.fft.rfft(audio[:, 0], 2 * SR))))))
    shift = shift - 2 * SR if shift > SR else shift
    assert 0 < abs(shift) <= 0.1 * SR
    if shift > 0:
        np.testing.assert_array_equal(out[shift:], audio[:-shift])
    else:
        np.testing.assert_array_equal(out[:shift], audio[-shift:])


def test_speed_change_moves_the_pitch_and_stretch_keeps_it() -> None:
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t))[:, None].astype(np.float32)

    def peak_hz(x: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(x[:, 0] * np.hanning(x.shape[0])))
        return float(np.fft.rfftfreq(x.shape[0], 1 / SR)[np.argmax(spectrum)])

    assert abs(peak_hz(apply_attack("speed", tone, SR, "+10%")) - 1100) < 5
    assert abs(peak_hz(apply_attack("time_stretch", tone, SR, "+10%")) - 1000) < 5
    assert abs(peak_hz(apply_attack("pitch_shift", tone, SR, "+200c")) - 1000 * 2 ** (2 / 12)) < 8


def test_reverb_rooms_have_their_reverberation_time() -> None:
    import pyroomacoustics as pra

    from soundsafe.attacks.reverb import ROOMS, room_impulses

    for room in ("club", "hall"):
        ir = room_impulses(room, SR, 2, 0)[0, 0]
        measured = pra.experimental.measure_rt60(ir, fs=SR)
        assert abs(measured - ROOMS[room][3]) / ROOMS[room][3] < 0.35, (room, measured)


def test_layered_chain_is_its_steps_in_order() -> None:
    from soundsafe.attacks.chains import run_chain

    audio = music(1.0)
    steps = get_attack("layered").strength("medium").params["steps"]
    assert [s[0] for s in steps] == ["eq", "compressor", "mp3", "white_noise", "aac"]
    np.testing.assert_array_equal(apply_attack("layered", audio, SR, "medium", seed=4),
                                  run_chain(audio, SR, steps, np.random.default_rng(4)))


TRAINABLE = [a.name for a in ATTACKS.values() if a.train is not None]


@pytest.mark.parametrize("name", TRAINABLE)
def test_training_attacks_pass_finite_nonzero_gradients(name: str) -> None:
    x = torch.from_numpy(np.stack([music(0.5, seed=s).T for s in range(2)]))
    x[..., : SR // 10] = 0.0  # digital silence: exact zeros in the spectrum must not poison the gradient
    x.requires_grad_()
    y = apply_training_attack(name, x, SR, generator=torch.Generator().manual_seed(0))
    assert y.dim() == 3 and y.shape[:2] == x.shape[:2]
    if name not in ("crop", "cut"):
        assert y.shape == x.shape
    assert torch.isfinite(y).all()
    (y * torch.randn(y.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_training_form_of_a_filter_matches_its_evaluation_form() -> None:
    audio = music(1.0, seed=6)
    real = apply_attack("lowpass", audio, SR, "3kHz")
    trained = apply_training_attack("lowpass", torch.from_numpy(audio.T[None].copy()), SR, "3kHz")[0].T.numpy()
    settled = slice(SR // 10, -SR // 10)  # away from the IIR start-up transient and the FFT wrap-around
    assert snr_db(real[settled], trained[settled]) > 20


def test_straight_through_codec_runs_the_real_codec_forward_and_identity_backward() -> None:
    audio = music(1.0, seed=8)
    x = torch.from_numpy(audio.T[None].copy()).requires_grad_()
    y = apply_training_attack("mp3", x, SR, "64k")
    np.testing.assert_allclose(y.detach()[0].T.numpy(), encode_decode(audio, SR, "mp3", kbps=64).audio, atol=1e-6)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))


def test_training_attacks_are_deterministic_for_a_generator_state() -> None:
    x = torch.from_numpy(music(0.5).T[None].copy())
    for name in ("white_noise", "eq", "reverb", "crowd", "time_shift"):
        a = apply_training_attack(name, x, SR, generator=torch.Generator().manual_seed(3))
        b = apply_training_attack(name, x, SR, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(a, b)


def test_training_noise_hits_its_snr_per_item() -> None:
    x = torch.from_numpy(np.stack([music(0.5, seed=s).T * (s + 1) for s in range(3)]))
    y = apply_training_attack("white_noise", x, SR, "10dB")
    for item_x, item_y in zip(x.numpy(), y.numpy(), strict=True):
        assert abs(snr_db(item_x, item_y) - 10.0) < 0.1


def _impulses_in_fresh_process(args: tuple[str, int, int, int]) -> np.ndarray:
    from soundsafe.attacks.reverb import room_impulses

    return room_impulses(*args)


def test_room_impulses_depend_only_on_their_arguments() -> None:
    """pyroomacoustics' randomized image sources use its own global RNG: the same seed must give the same room
    in this process after other draws and in a fresh worker process (evaluations run in several)."""
    import multiprocessing

    from soundsafe.attacks.reverb import room_impulses

    args = ("club", 8000, 2, 7)
    first = room_impulses(*args)
    room_impulses.cache_clear()
    room_impulses("hall", 8000, 2, 3)  # other draws in between
    again = room_impulses(*args)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        worker = pool.map(_impulses_in_fresh_process, [args])[0]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, worker)
    assert not np.array_equal(first, room_impulses("club", 8000, 2, 8))  # and the seed does move the room
