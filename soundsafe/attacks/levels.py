"""Sample-level edits: gain, polarity inversion, bit-depth quantization, and resampling down and back.

Gain works in float and does not clip (a later clipping attack does that). Quantization rounds to a signed
``bits``-bit grid with TPDF-free rounding (what a careless bit-depth reduction does); its training form is the
straight-through rounding estimator. Resampling goes to the target rate and back with soxr (VHQ) for
evaluation and with torchaudio's band-limited sinc resampler (differentiable) for training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from soundsafe.attacks.base import Attack, Strength, match_length
from soundsafe.audio.io import resample

__all__ = ["ATTACKS"]


def _gain_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    return (audio * np.float32(10 ** (params["db"] / 20))).astype(np.float32)


def _gain_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    return x * 10 ** (params["db"] / 20)


def _polarity_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    return -audio


def _polarity_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    return -x


def _quantize_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    steps = 2 ** (params["bits"] - 1)
    return (np.clip(np.round(audio * steps), -steps, steps - 1) / steps).astype(np.float32)


def _quantize_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    steps = 2 ** (params["bits"] - 1)
    quantized = (x * steps).round().clamp(-steps, steps - 1) / steps
    return x + (quantized - x).detach()  # forward: the real grid; backward: identity


def _resample_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    target = int(params["rate"])
    return match_length(resample(resample(audio, sr, target), target, sr), audio.shape[0])


def _resample_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    import torch.nn.functional as F
    import torchaudio.functional as AF

    target = int(params["rate"])
    if target == sr:
        return x
    y = AF.resample(AF.resample(x.contiguous(), sr, target).contiguous(), target, sr)
    n = x.shape[-1]
    return y[..., :n] if y.shape[-1] >= n else F.pad(y, (0, n - y.shape[-1]))


ATTACKS = (
    Attack(name="gain", family="level", summary="volume change in dB (float, no clipping)",
           strengths=tuple(Strength(f"{d:+d}dB", {"db": float(d)}) for d in (-3, 3, -6, 6, -12, -20)),
           default="-6dB", evaluate=_gain_eval, train=_gain_train, train_mode="differentiable",
           source="loudness normalisation moves (streaming services: −14 LUFS targets)"),
    Attack(name="polarity", family="level", summary="polarity inversion (every sample negated)",
           strengths=(Strength("invert", {}),), default="invert", evaluate=_polarity_eval, train=_polarity_train,
           train_mode="differentiable"),
    Attack(name="quantize", family="level", summary="bit-depth reduction by rounding to a signed grid",
           strengths=tuple(Strength(f"{b}bit", {"bits": b}) for b in (12, 10, 8, 6, 4)), default="8bit",
           evaluate=_quantize_eval, train=_quantize_train, train_mode="differentiable",
           source="AudioMarkBench quantization levels (2^4…2^8 steps) and the issue's 8-bit case"),
    Attack(name="resample", family="level", summary="resample to a rate and back (soxr VHQ)",
           strengths=tuple(Strength(f"{r / 1000:g}kHz", {"rate": r}) for r in (48000, 32000, 22050, 16000, 8000)),
           default="16kHz", evaluate=_resample_eval, train=_resample_train, train_mode="differentiable",
           source="issue 4 rates (8, 16, 22.05, 32, 48 kHz)"),
)
