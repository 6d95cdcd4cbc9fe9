"""Layered attacks: named chains of registered attacks, applied in order (each step seeded from the chain's seed).

A chain's length and rate contracts are those of its steps composed; the chains registered here keep both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from soundsafe.attacks.base import Attack, Strength

__all__ = ["ATTACKS", "run_chain", "run_chain_training"]

Chain = Sequence[tuple[str, str]]  # (attack name, strength name), applied left to right


def run_chain(audio: np.ndarray, sr: int, steps: Chain, rng: np.random.Generator) -> np.ndarray:
    """Apply the evaluation form of each step in order."""
    from soundsafe.attacks.registry import get_attack

    for name, strength in steps:
        attack = get_attack(name)
        audio = attack.evaluate(audio, sr, attack.strength(strength).params, np.random.default_rng(rng.integers(2**63)))
    return audio


def run_chain_training(x: Any, sr: int, steps: Chain, generator: Any) -> Any:
    """Apply the training form of each step in order (codecs straight-through)."""
    from soundsafe.attacks.registry import get_attack

    for name, strength in steps:
        attack = get_attack(name)
        if attack.train is None:
            raise ValueError(f"attack {name!r} has no training form and cannot be part of a training chain")
        x = attack.train(x, sr, attack.strength(strength).params, generator)
    return x


def _eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    return run_chain(audio, sr, params["steps"], rng)


def _train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    return run_chain_training(x, sr, params["steps"], generator)


def _describe(steps: Chain) -> str:
    return " → ".join(f"{name} {strength}" for name, strength in steps)


def _chain(name: str, summary: str, ladder: Mapping[str, Chain], default: str) -> Attack:
    return Attack(name=name, family="chain", summary=summary,
                  strengths=tuple(Strength(label, {"steps": tuple(steps)}) for label, steps in ladder.items()),
                  default=default, evaluate=_eval, train=_train, train_mode="straight-through",
                  source="; ".join(f"{label}: {_describe(steps)}" for label, steps in ladder.items()),
                  tags=frozenset({"codec", "chain"}))


ATTACKS = (
    _chain("layered", "mastering → distribution → re-encode: EQ, compressor, MP3, noise, AAC", {
        "light": [("eq", "±3dB"), ("compressor", "gentle"), ("mp3", "192k"), ("white_noise", "40dB"), ("aac", "128k")],
        "medium": [("eq", "±3dB"), ("compressor", "medium"), ("mp3", "128k"), ("white_noise", "30dB"),
                   ("aac", "64k")],
        "strong": [("eq", "±6dB"), ("compressor", "heavy"), ("mp3", "64k"), ("white_noise", "20dB"), ("aac", "64k")],
    }, "medium"),
    _chain("radio", "FM broadcast: band-limit, heavy compression, limiter, MP3 stream", {
        "light": [("bandpass", "50Hz-15kHz"), ("compressor", "medium"), ("limiter", "-1dB"), ("mp3", "192k")],
        "medium": [("bandpass", "50Hz-15kHz"), ("compressor", "heavy"), ("limiter", "-3dB"), ("mp3", "128k")],
        "strong": [("bandpass", "100Hz-8kHz"), ("compressor", "brutal"), ("limiter", "-6dB"), ("mp3", "64k")],
    }, "medium"),
    _chain("reupload", "social re-upload: loudness change, Opus, then AAC transcode", {
        "light": [("gain", "-3dB"), ("opus", "128k"), ("aac", "256k")],
        "medium": [("gain", "-6dB"), ("opus", "64k"), ("aac", "128k")],
        "strong": [("resample", "22.05kHz"), ("opus", "32k"), ("aac", "64k")],
    }, "medium"),
    _chain("mp3_noise", "a lossy copy played or streamed through a noisy path: MP3, then white noise", {
        "128k+40dB": [("mp3", "128k"), ("white_noise", "40dB")],
        "128k+30dB": [("mp3", "128k"), ("white_noise", "30dB")],
        "64k+20dB": [("mp3", "64k"), ("white_noise", "20dB")],
    }, "128k+30dB"),
)
