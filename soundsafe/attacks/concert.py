"""Concert degradations (seed 001): a song heard live through a PA and filmed on a phone in the crowd.

The music plays through the venue (RIR of a room from club to arena), the crowd around the phone (babble, claps,
cheers) is added at an SNR from +10 to −10 dB, then the phone colours it (random EQ), levels it (compressor) and
saturates it (soft clipping), and the band drifts a little in pitch. The same ladder serves the fingerprint model.
Also registered alone: ``crowd`` (crowd noise at an exact SNR).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import sosfilt

from soundsafe.attacks.base import Attack, Strength
from soundsafe.attacks.crowd import crowd
from soundsafe.attacks.dynamics import torch_compressor
from soundsafe.attacks.filters import apply_sos_fft, random_eq_sos
from soundsafe.attacks.noise import add_at_snr, torch_add_at_snr

__all__ = ["ATTACKS", "CONCERT_SNRS", "DRIFT_CENTS", "VENUES", "concert_views", "crowd_bank"]

CONCERT_SNRS = (10, 5, 0, -5, -10)
VENUES = ("club", "theatre", "hall", "arena")
DRIFT_CENTS = 20.0  # the band's pitch drift, at most
_BANK_SECONDS, _BANK_SIZE = 8.0, 3


@functools.lru_cache(maxsize=8)
def crowd_bank(sr: int, channels: int) -> np.ndarray:
    """A few seconds of several crowds, ``(size, channels, frames)``, made once per rate/channel count."""
    frames = int(_BANK_SECONDS * sr)
    return np.stack([crowd(frames, channels, sr, np.random.default_rng(1000 + i)).T.astype(np.float32)
                     for i in range(_BANK_SIZE)])


def _crowd_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    return add_at_snr(audio, crowd(audio.shape[0], audio.shape[1], sr, rng), params["snr_db"])


def _crowd_noise_torch(x: Any, sr: int, generator: Any) -> Any:
    """Random windows of the crowd bank, tiled when the batch is longer than the bank."""
    import torch

    batch, channels, n = x.shape
    bank = crowd_bank(sr, channels)
    picks = torch.randint(0, bank.shape[0], (batch,), generator=generator).tolist()
    starts = torch.randint(0, bank.shape[-1], (batch,), generator=generator).tolist()
    rows = [np.take(bank[p], np.arange(s, s + n) % bank.shape[-1], axis=-1) for p, s in zip(picks, starts,
                                                                                              strict=True)]
    return torch.from_numpy(np.stack(rows)).to(x)


def _crowd_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    return torch_add_at_snr(x, _crowd_noise_torch(x, sr, generator), params["snr_db"])


def _concert_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    from soundsafe.attacks.registry import get_attack

    def run(name: str, strength: str, x: np.ndarray) -> np.ndarray:
        attack = get_attack(name)
        return attack.evaluate(x, sr, attack.strength(strength).params, np.random.default_rng(rng.integers(2**63)))

    venue = VENUES[int(rng.integers(0, len(VENUES)))]
    x = run("reverb", venue, audio)
    x = add_at_snr(x, crowd(x.shape[0], x.shape[1], sr, rng), params["snr_db"])
    x = sosfilt(random_eq_sos(sr, 4, 6.0, rng), x, axis=0).astype(np.float32)
    x = run("compressor", "medium", x)
    x = run("soft_clip", "6dB", x)
    cents = float(rng.uniform(-params["drift_cents"], params["drift_cents"]))
    return get_attack("pitch_shift").evaluate(x, sr, {"semitones": cents / 100}, rng) if abs(cents) >= 1 else x


def concert_views(x: Any, sr: int, snr_db: float, drift_cents: float, generator: Any, noise: Any,
                  irs: np.ndarray) -> Any:
    """The training concert chain with the room and crowd given: ``x`` ``(B, C, n)`` through ``irs`` (``(B, C, C,
    taps)``, :func:`~soundsafe.attacks.reverb.convolve_irs`), ``noise`` ``(B, C, n)`` added at
    ``snr_db``, then a random phone EQ, the compressor, soft clipping and a pitch drift up to ``drift_cents``.
    The registry's ``concert`` draws the room and crowd from small fixed banks; a caller that trains long on it
    passes fresh ones (:mod:`soundsafe.fingerprint.views`)."""
    import torch

    from soundsafe.attacks.registry import get_attack
    from soundsafe.attacks.reverb import convolve_irs

    y = convolve_irs(x, irs)
    y = torch_add_at_snr(y, noise.to(y), snr_db)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    y = apply_sos_fft(y, sr, random_eq_sos(sr, 4, 6.0, np.random.default_rng(seed)))
    y = torch_compressor(y, sr, -24.0, 4.0, 5.0, 100.0)
    y = get_attack("soft_clip").train(y, sr, {"drive_db": 6.0}, generator)
    cents = (2 * float(torch.rand(1, generator=generator)) - 1) * drift_cents
    return get_attack("pitch_shift").train(y, sr, {"semitones": cents / 100}, generator) if abs(cents) >= 1 else y


def _concert_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    import torch

    from soundsafe.attacks.reverb import bank_irs

    venue = VENUES[int(torch.randint(0, len(VENUES), (1,), generator=generator))]
    irs = bank_irs(venue, sr, x.shape[1], x.shape[0], generator)
    return concert_views(x, sr, params["snr_db"], params["drift_cents"], generator,
                         _crowd_noise_torch(x, sr, generator), irs)


ATTACKS = (
    Attack(name="crowd", family="concert", summary="synthetic crowd noise (babble, claps, cheers) at an exact SNR",
           strengths=tuple(Strength(f"{s:+d}dB", {"snr_db": float(s)}) for s in CONCERT_SNRS), default="+0dB",
           evaluate=_crowd_eval, train=_crowd_train, train_mode="differentiable",
           source="seed 001: crowd noise at −10…+10 dB SNR", tags=frozenset({"noise", "concert"})),
    Attack(name="concert", family="concert",
           summary="live capture: venue RIR, crowd at an SNR, phone EQ, compressor, saturation, pitch drift",
           strengths=tuple(Strength(f"{s:+d}dB", {"snr_db": float(s), "drift_cents": DRIFT_CENTS})
                           for s in CONCERT_SNRS),
           default="+0dB", evaluate=_concert_eval, train=_concert_train, train_mode="differentiable",
           source="seed 001's concert degradation list", tags=frozenset({"concert", "desync"})),
)
