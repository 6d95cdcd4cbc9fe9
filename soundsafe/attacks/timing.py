"""Time-axis attacks: speed change, time stretch, pitch shift (Rubber Band via pedalboard), crop, cut, shift.

Length contracts (evaluation): speed change and time stretch by a factor ``f`` (>1 faster) give
``round(frames / f)`` frames; crop keeps a fraction of the frames; cut removes segments; pitch shift and time
shift keep the length. Training forms (torch): speed by linear interpolation, stretch and pitch shift by
torchaudio's phase vocoder, all cropped or zero-padded back to the input length so batches keep their shape;
crop and cut return the same shorter length for the whole batch; shift keeps the length.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from soundsafe.attacks.base import Attack, AttackInputError, Strength, match_length

__all__ = ["ATTACKS"]

_FACTORS = (0.99, 1.01, 0.98, 1.02, 0.95, 1.05, 0.9, 1.1, 0.8, 1.2, 0.75, 1.25)  # ±1…±25 %; AudioMarkBench: 0.8…1.2
_SEMITONES = (0.1, -0.1, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0)  # ±10 cents … ±2 semitones


def _fit(x: Any, n: int) -> Any:
    import torch.nn.functional as F

    return x[..., :n] if x.shape[-1] >= n else F.pad(x, (0, n - x.shape[-1]))


def _speed_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    import soxr

    factor = params["factor"]
    out = soxr.resample(audio, sr * factor, sr, quality="VHQ").astype(np.float32)
    return match_length(out, round(audio.shape[0] / factor))


def _speed_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    import torch.nn.functional as F

    n = x.shape[-1]
    y = F.interpolate(x, size=max(1, round(n / params["factor"])), mode="linear", align_corners=False)
    return _fit(y, n)


def _rubberband(audio: np.ndarray, sr: int, stretch: float, semitones: float) -> np.ndarray:
    from pedalboard import time_stretch

    out = time_stretch(np.ascontiguousarray(audio.T), float(sr), stretch_factor=stretch,
                       pitch_shift_in_semitones=semitones)
    return np.ascontiguousarray(out.T).astype(np.float32)


def _stretch_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    factor = params["factor"]
    return match_length(_rubberband(audio, sr, factor, 0.0), round(audio.shape[0] / factor))


def _pitch_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    return match_length(_rubberband(audio, sr, 1.0, params["semitones"]), audio.shape[0])


_N_FFT, _HOP = 1024, 256


def _stretch_torch(x: Any, rate: float) -> Any:
    import torch
    import torchaudio.functional as AF

    shape = x.shape
    flat = x.reshape(-1, shape[-1])
    window = torch.hann_window(_N_FFT, device=x.device, dtype=x.dtype)
    # a tiny offset keeps the phase vocoder's angle() differentiable where the spectrum is exactly zero
    spec = torch.stft(flat, _N_FFT, _HOP, window=window, return_complex=True) + 1e-7
    advance = torch.linspace(0, np.pi * _HOP, spec.shape[-2], device=x.device, dtype=x.dtype)[:, None]
    stretched = AF.phase_vocoder(spec, rate, advance)
    y = torch.istft(stretched, _N_FFT, _HOP, window=window, length=round(shape[-1] / rate))
    return y.reshape(*shape[:-1], -1)


def _stretch_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    return _fit(_stretch_torch(x, params["factor"]), x.shape[-1])


def _pitch_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    import torch.nn.functional as F

    ratio = 2 ** (params["semitones"] / 12)
    slower = _stretch_torch(x, 1 / ratio)  # longer by the pitch ratio, then played faster by it: same length
    return _fit(F.interpolate(slower, size=x.shape[-1], mode="linear", align_corners=False), x.shape[-1])


def _window(frames: int, keep: int, rng: np.random.Generator) -> int:
    return int(rng.integers(0, frames - keep + 1))


def _crop_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    keep = max(1, round(audio.shape[0] * params["keep"]))
    start = _window(audio.shape[0], keep, rng)
    return audio[start: start + keep]


def _crop_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    import torch

    n = x.shape[-1]
    keep = max(1, round(n * params["keep"]))
    start = int(torch.randint(0, n - keep + 1, (1,), generator=generator))
    return x[..., start: start + keep]


def _cut_plan(frames: int, sr: int, count: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean keep-mask removing ``count`` segments of ``seconds`` (at most half the audio in all)."""
    length = min(round(seconds * sr), frames // (2 * count))
    if length < 1:
        raise AttackInputError(f"cut: audio of {frames} frames is too short to remove {count} segments")
    keep = np.ones(frames, dtype=bool)
    for start in rng.integers(0, frames - length + 1, count):
        keep[start: start + length] = False
    return keep


def _cut_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    return audio[_cut_plan(audio.shape[0], sr, params["count"], params["seconds"], rng)]


def _cut_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    import torch

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    keep = _cut_plan(x.shape[-1], sr, params["count"], params["seconds"], np.random.default_rng(seed))
    return x[..., torch.from_numpy(np.flatnonzero(keep)).to(x.device)]


def _shift_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    offset = round(rng.uniform(-1, 1) * params["max_ms"] / 1000 * sr)
    offset = int(np.clip(offset, -audio.shape[0] + 1, audio.shape[0] - 1))
    out = np.zeros_like(audio)
    if offset >= 0:  # delayed: silence first, the end falls off
        out[offset:] = audio[: audio.shape[0] - offset]
    else:  # advanced: the start falls off, silence at the end
        out[: offset] = audio[-offset:]
    return out


def _shift_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    import torch
    import torch.nn.functional as F

    n = x.shape[-1]
    offset = round((2 * float(torch.rand(1, generator=generator)) - 1) * params["max_ms"] / 1000 * sr)
    offset = max(-n + 1, min(n - 1, offset))
    return F.pad(x, (offset, 0))[..., :n] if offset >= 0 else F.pad(x[..., -offset:], (0, -offset))


def _pct(factor: float) -> str:
    return f"{(factor - 1) * 100:+.0f}%"


ATTACKS = (
    Attack(name="speed", family="time", summary="playback speed change (tempo and pitch together, by resampling)",
           strengths=tuple(Strength(_pct(f), {"factor": f}) for f in _FACTORS), default="+5%",
           evaluate=_speed_eval, train=_speed_train, train_mode="differentiable",
           length="round(frames / factor)", source="±1…25 %; AudioMarkBench time stretch 0.8…1.2",
           tags=frozenset({"desync"})),
    Attack(name="time_stretch", family="time", summary="tempo change with pitch kept (Rubber Band)",
           strengths=tuple(Strength(_pct(f), {"factor": f}) for f in _FACTORS), default="+5%",
           evaluate=_stretch_eval, train=_stretch_train, train_mode="differentiable",
           length="round(frames / factor)", source="±1…25 %; AudioMarkBench time stretch 0.8…1.2",
           tags=frozenset({"desync"})),
    Attack(name="pitch_shift", family="time", summary="pitch change with tempo kept (Rubber Band)",
           strengths=tuple(Strength(f"{s * 100:+.0f}c", {"semitones": s}) for s in _SEMITONES), default="+100c",
           evaluate=_pitch_eval, train=_pitch_train, train_mode="differentiable",
           source="±10 cents … ±2 semitones", tags=frozenset({"desync"})),
    Attack(name="crop", family="time", summary="keep one random contiguous part of the audio",
           strengths=tuple(Strength(f"keep{int(k * 100)}%", {"keep": k}) for k in (0.9, 0.75, 0.5, 0.25)),
           default="keep50%", evaluate=_crop_eval, train=_crop_train, train_mode="differentiable",
           length="round(frames × keep)", tags=frozenset({"desync"})),
    Attack(name="cut", family="time", summary="remove random segments and splice the rest together",
           strengths=tuple(Strength(f"{c}x{int(s * 1000)}ms", {"count": c, "seconds": s})
                           for c, s in ((1, 0.1), (3, 0.1), (3, 0.5), (5, 1.0))),
           default="3x100ms", evaluate=_cut_eval, train=_cut_train, train_mode="differentiable",
           length="frames minus the removed segments (at most half the audio)", tags=frozenset({"desync"})),
    Attack(name="time_shift", family="time", summary="random delay or advance (zeros fill the gap)",
           strengths=tuple(Strength(f"±{int(ms)}ms", {"max_ms": ms}) for ms in (10.0, 100.0, 500.0, 1000.0)),
           default="±100ms", evaluate=_shift_eval, train=_shift_train, train_mode="differentiable",
           tags=frozenset({"desync"})),
)
