"""Random training chains with a strength schedule: how the training phases ramp up difficulty.

At training step ``s`` the schedule gives a difficulty ``d`` in [0, 1]. A chain then holds 1 … ``round(d ·
max_length)`` distinct attacks drawn from the pool (by weight), and each attack's strength is drawn from the
weakest ``ceil(d · n)`` of its ``n`` named strengths. With probability ``p_clean`` the chain is empty, so the model
also sees unattacked audio. Draws come from a numpy generator (seed it for reproducible runs); the attacks' own
randomness comes from the torch generator passed to :meth:`ChainSampler.apply`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from soundsafe.attacks.base import AttackError
from soundsafe.attacks.chains import run_chain_training
from soundsafe.attacks.registry import get_attack

__all__ = ["DEFAULT_POOL", "ChainSampler", "StrengthSchedule"]

# Attacks that keep (batch, channels, samples) in training; codecs are weighted down as they cost the most.
DEFAULT_POOL: Mapping[str, float] = {
    "white_noise": 1.0, "pink_noise": 1.0, "background": 0.5, "crowd": 0.5,
    "lowpass": 1.0, "highpass": 1.0, "bandpass": 0.5, "eq": 1.0,
    "gain": 0.5, "polarity": 0.25, "quantize": 0.5, "resample": 1.0,
    "compressor": 1.0, "limiter": 0.5, "hard_clip": 0.5, "soft_clip": 0.5,
    "reverb": 0.5, "time_shift": 0.5, "speed": 0.25, "pitch_shift": 0.25,
    "mp3": 0.5, "aac": 0.25, "opus": 0.25,
}


@dataclass(frozen=True)
class StrengthSchedule:
    """Difficulty that ramps linearly from ``start`` to ``end`` over ``ramp_steps`` steps, then stays."""

    start: float = 0.25
    end: float = 1.0
    ramp_steps: int = 10_000

    def __post_init__(self) -> None:
        if not (0.0 <= self.start <= 1.0 and 0.0 <= self.end <= 1.0):
            raise ValueError(f"difficulty must lie in [0, 1], got start={self.start}, end={self.end}")
        if self.ramp_steps < 0:
            raise ValueError(f"ramp_steps must be ≥ 0, got {self.ramp_steps}")

    def difficulty(self, step: int) -> float:
        if self.ramp_steps == 0:
            return self.end
        t = min(max(step, 0) / self.ramp_steps, 1.0)
        return self.start + (self.end - self.start) * t


@dataclass(frozen=True)
class ChainSampler:
    """Draws random training chains from a weighted pool of registered attacks."""

    pool: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_POOL))
    max_length: int = 3
    p_clean: float = 0.1
    schedule: StrengthSchedule = field(default_factory=StrengthSchedule)

    def __post_init__(self) -> None:
        if not self.pool:
            raise ValueError("the attack pool is empty")
        for name, weight in self.pool.items():
            attack = get_attack(name)  # unknown names fail here, with the list of choices
            if attack.train is None:
                raise AttackError(f"attack {name!r} has no training form; remove it from the pool")
            if weight < 0:
                raise ValueError(f"pool weight of {name!r} must be ≥ 0, got {weight}")
        if self.max_length < 1:
            raise ValueError(f"max_length must be ≥ 1, got {self.max_length}")

    def draw(self, step: int, rng: np.random.Generator) -> tuple[tuple[str, str], ...]:
        """A chain of ``(attack, strength)`` pairs for training step ``step``."""
        if rng.random() < self.p_clean:
            return ()
        difficulty = self.schedule.difficulty(step)
        names = list(self.pool)
        weights = np.array([self.pool[n] for n in names], dtype=float)
        length = int(rng.integers(1, max(1, round(difficulty * self.max_length)) + 1))
        length = min(length, int(np.count_nonzero(weights)))
        chosen = rng.choice(len(names), size=length, replace=False, p=weights / weights.sum())
        chain = []
        for index in chosen:
            ladder = get_attack(names[index]).strength_names
            reach = max(1, math.ceil(difficulty * len(ladder)))
            chain.append((names[index], ladder[int(rng.integers(0, reach))]))
        return tuple(chain)

    def apply(self, x: Any, sr: int, step: int, rng: np.random.Generator,
              generator: Any = None) -> tuple[Any, tuple[tuple[str, str], ...]]:
        """Draw a chain for ``step`` and run its training form on ``x`` (batch, channels, samples)."""
        import torch

        chain = self.draw(step, rng)
        if generator is None:
            generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
        return run_chain_training(x, sr, chain, generator), chain
