"""What an attack is: named strengths, an evaluation implementation and a training implementation.

Evaluation implementations take float32 numpy audio shaped ``(frames, channels)`` at any sample rate and do the
real processing (real codecs, real resamplers, real time stretchers). Training implementations take torch
tensors shaped ``(batch, channels, samples)`` and are differentiable, or straight-through over the real thing
where only the real thing exists (codecs). Both are deterministic for a given seed / generator state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from soundsafe.audio.checks import AudioInputError

__all__ = [
    "Attack",
    "AttackError",
    "AttackInputError",
    "EvalFn",
    "Strength",
    "TrainFn",
    "match_length",
]

EvalFn = Callable[[np.ndarray, int, Mapping[str, Any], np.random.Generator], np.ndarray]
TrainFn = Callable[..., Any]  # (x: Tensor[B, C, T], sr, params, generator: torch.Generator) -> Tensor
TrainMode = Literal["differentiable", "straight-through", "none"]


class AttackError(ValueError):
    """An attack was asked for something it cannot do (unknown name or strength, bad parameters)."""


class AttackInputError(AttackError, AudioInputError):
    """The audio handed to an attack is not usable (empty, NaN, wrong shape, unsupported rate)."""


@dataclass(frozen=True)
class Strength:
    """One named setting of an attack; ``params`` are the implementation's keyword parameters."""

    name: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Attack:
    """A registered attack. ``strengths`` go from weakest to strongest; ``default`` names one of them."""

    name: str
    family: str
    summary: str
    strengths: tuple[Strength, ...]
    default: str
    evaluate: EvalFn
    train: TrainFn | None = None
    train_mode: TrainMode = "none"
    length: str = "same"  # how the output length relates to the input ("same" or a description)
    rate: str = "same"  # how the output sample rate relates to the input
    source: str = ""  # where the strength ladder comes from
    tags: frozenset[str] = field(default_factory=frozenset)

    def strength(self, name: str | None = None) -> Strength:
        """The named strength (the default when ``name`` is None), or :class:`AttackError` listing the choices."""
        wanted = self.default if name is None else name
        for strength in self.strengths:
            if strength.name == wanted:
                return strength
        choices = ", ".join(s.name for s in self.strengths)
        raise AttackError(f"attack {self.name!r} has no strength {wanted!r}; choose one of: {choices}")

    @property
    def strength_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.strengths)


def match_length(audio: np.ndarray, frames: int) -> np.ndarray:
    """Trim or zero-pad ``(frames, channels)`` audio to exactly ``frames`` frames."""
    if audio.shape[0] >= frames:
        return audio[:frames]
    pad = np.zeros((frames - audio.shape[0], audio.shape[1]), dtype=audio.dtype)
    return np.concatenate([audio, pad], axis=0)
