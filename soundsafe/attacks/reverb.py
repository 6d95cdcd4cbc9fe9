"""Room reverb from simulated impulse responses (pyroomacoustics image-source model, shoebox rooms).

Each input channel plays from its own loudspeaker on a stage and each output channel is a microphone in the
audience, so a stereo mix is heard as a PA in a room would present it (every mic hears every speaker). Rooms go
from a small club to an arena; their wall absorption comes from Sabine's formula for the target RT60, and the
seed moves speakers and microphones. The output keeps the input length (the tail past the end is cut) and its
overall level (rescaled to the input's energy: a recording is levelled, not quieter because the room is big).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import oaconvolve

from soundsafe.attacks.base import Attack, Strength

__all__ = ["ATTACKS", "ROOMS", "bank_irs", "convolve_irs", "room_impulses"]

# name: (length, width, height in metres, target RT60 in seconds)
ROOMS: dict[str, tuple[float, float, float, float]] = {
    "studio": (6.0, 5.0, 3.0, 0.25),
    "club": (14.0, 10.0, 4.5, 0.6),
    "theatre": (28.0, 20.0, 10.0, 1.2),
    "hall": (40.0, 26.0, 16.0, 1.9),
    "arena": (90.0, 70.0, 25.0, 2.8),
}
_MAX_ORDER = 17  # image-source order: enough for the RT60s above, bounded cost for the arena
_TRAIN_BANK = 4  # impulse responses per room kept for training batches


@functools.lru_cache(maxsize=64)
def room_impulses(room: str, sr: int, channels: int, seed: int) -> np.ndarray:
    """Impulse responses ``(mics, speakers, taps)`` for ``channels`` speakers and mics in ``room``."""
    import pyroomacoustics as pra

    length, width, height, rt60 = ROOMS[room]
    rng = np.random.default_rng(seed)
    absorption, order = pra.inverse_sabine(rt60, [length, width, height])
    shoebox = pra.ShoeBox([length, width, height], fs=sr, materials=pra.Material(absorption),
                          max_order=min(order, _MAX_ORDER), use_rand_ism=True, max_rand_disp=0.05)
    stage_y = np.linspace(0.3, 0.7, channels) if channels > 1 else np.array([0.5])
    for y in stage_y:  # speakers across the stage at one end
        shoebox.add_source([length * rng.uniform(0.08, 0.15), width * y, min(2.5, 0.6 * height)])
    listener_x = length * rng.uniform(0.4, 0.8)
    listener_y = width * rng.uniform(0.3, 0.7)
    offsets = (np.arange(channels) - (channels - 1) / 2) * 0.2  # a spaced pair (or line) of mics 20 cm apart
    mics = np.stack([[listener_x] * channels, listener_y + offsets, [1.6] * channels])
    shoebox.add_microphone_array(mics)
    # the randomized image sources draw from pyroomacoustics' own package-wide RNG: seed it from ours so the
    # response is a function of the arguments, not of what the process drew before (worker processes differed)
    pra.random.seed(numpy=seed, libroom=seed)
    shoebox.compute_rir()
    taps = max(len(shoebox.rir[m][s]) for m in range(channels) for s in range(channels))
    out = np.zeros((channels, channels, taps), dtype=np.float32)
    for m in range(channels):
        for s in range(channels):
            h = shoebox.rir[m][s]
            out[m, s, : len(h)] = h
    return out


def _reverb_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    channels = audio.shape[1]
    irs = room_impulses(params["room"], sr, channels, int(rng.integers(0, 2**31 - 1)))
    out = np.zeros(audio.shape, dtype=np.float64)
    for m in range(channels):
        for s in range(channels):
            out[:, m] += oaconvolve(audio[:, s], irs[m, s])[: audio.shape[0]]
    scale = np.sqrt(np.sum(audio.astype(np.float64) ** 2) / max(np.sum(out**2), 1e-30))
    return (out * scale).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _train_bank(room: str, sr: int, channels: int) -> np.ndarray:
    """``_TRAIN_BANK`` impulse responses of one room, zero-padded to a common length."""
    irs = [room_impulses(room, sr, channels, seed) for seed in range(_TRAIN_BANK)]
    taps = max(ir.shape[-1] for ir in irs)
    return np.stack([np.pad(ir, ((0, 0), (0, 0), (0, taps - ir.shape[-1]))) for ir in irs])


def convolve_irs(x: Any, irs: np.ndarray) -> Any:
    """``x`` ``(B, speakers, n)`` through one impulse response set per item, ``irs`` ``(B, mics, speakers, taps)``,
    by FFT, cut to ``n`` and scaled back to each item's input energy (differentiable in ``x``)."""
    import torch

    n, taps = x.shape[-1], irs.shape[-1]
    size = 1 << int(np.ceil(np.log2(n + taps)))
    spectra = torch.fft.rfft(torch.from_numpy(np.ascontiguousarray(irs)).to(x), n=size)  # (B, mics, speakers, F)
    y = torch.fft.irfft(torch.einsum("bmsf,bsf->bmf", spectra, torch.fft.rfft(x, n=size)), n=size)[..., :n]
    dims = (1, 2)
    scale = torch.sqrt(x.detach().pow(2).sum(dims, keepdim=True) / y.detach().pow(2).sum(dims, keepdim=True)
                       .clamp_min(1e-12))
    return y * scale


def bank_irs(room: str, sr: int, channels: int, batch: int, generator: Any) -> np.ndarray:
    """``(batch, channels, channels, taps)``: a random one of the training bank's responses of ``room`` per item."""
    import torch

    picks = torch.randint(0, _TRAIN_BANK, (batch,), generator=generator).tolist()
    return _train_bank(room, sr, channels)[picks]


def _reverb_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    return convolve_irs(x, bank_irs(params["room"], sr, x.shape[1], x.shape[0], generator))


ATTACKS = (
    Attack(name="reverb", family="reverb", summary="room reverb by simulated RIRs (image-source shoebox rooms)",
           strengths=tuple(Strength(f"{room}", {"room": room}) for room in ROOMS), default="theatre",
           evaluate=_reverb_eval, train=_reverb_train, train_mode="differentiable",
           source="RT60 from a studio (0.25 s) and club (0.6 s) to an arena (2.8 s), per seed 001",
           length="same (the reverb tail past the end is cut)"),
)
