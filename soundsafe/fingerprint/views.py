"""Degraded training views for the fingerprint with rooms and crowds that keep changing.

The registry's training ``concert`` draws its room from 4 impulse responses per venue and its crowd from 3 crowds
of 8 s: enough for the watermark, which must survive the chain, but an encoder trained thousands of steps on it
learns those few crowds and rooms by heart. Measured on real music (2026-12-07; validation = 192 held-out 1 s
windows through the evaluation's ``concert`` at 0 dB with rooms and crowds never trained on): 3,000 steps on the
banks 0.72, a 6,000-step run on the banks (stopped early at 4,250) 0.77 (their own bank-degraded validation said
0.79 and 0.88), and 3,500 steps on this pool (stopped early) 0.84; on 84 test queries a cell (concert + phone
upload), 5 s at 0 dB went 0.82 → 0.93 and 10 s at −5 dB 0.79 → 0.93 against the first.
Here a pool of crowds and impulse responses is drawn from a seed range and a few are replaced every step, so over
a run the encoder hears about a thousand of each; validation draws from a disjoint seed range
(:data:`VALIDATION_SEED`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from soundsafe.attacks.concert import DRIFT_CENTS, VENUES, concert_views
from soundsafe.attacks.crowd import crowd
from soundsafe.attacks.reverb import room_impulses

__all__ = ["SEEDS_PER_POOL", "VALIDATION_SEED", "PoolSpec", "ViewPool"]

VALIDATION_SEED = 2_000_000_000  # crowds and rooms from here on are never trained on (pyroomacoustics: < 2**31)
SEEDS_PER_POOL = 10**5  # seeds a pool may draw in a run (crowds and rooms made: a few thousand)


@dataclass(frozen=True)
class PoolSpec:
    """How many crowds and rooms the pool holds and how many of each it replaces per step."""

    crowds: int = 64
    crowd_seconds: float = 8.0
    rooms: int = 8  # impulse responses per venue
    crowd_refresh: float = 0.25  # crowds replaced per step (fractions accumulate)
    room_refresh: float = 0.25  # impulse responses replaced per step


class ViewPool:
    """Crowds and room impulse responses for :func:`~soundsafe.attacks.concert.concert_views`, drawn from seeds
    ``first_seed, first_seed + 1, …`` (each crowd or room its own seed, so two pools with disjoint ranges share
    none) and refreshed with :meth:`refresh`."""

    def __init__(self, spec: PoolSpec, sr: int, first_seed: int = 0) -> None:
        if first_seed < VALIDATION_SEED < first_seed + SEEDS_PER_POOL:  # a run's seeds would reach validation's
            raise ValueError(f"first_seed {first_seed}: its {SEEDS_PER_POOL} seeds reach the validation seeds "
                             f"(from {VALIDATION_SEED}); start below {VALIDATION_SEED - SEEDS_PER_POOL} or at it")
        self.spec, self.sr, self._next = spec, sr, first_seed
        self._due = {"crowd": 0.0, "room": 0.0}
        self.crowds_made = self.rooms_made = 0
        frames = int(spec.crowd_seconds * sr)
        self.crowds = np.stack([self._crowd(frames) for _ in range(spec.crowds)])
        self.rooms = {venue: [self._room(venue) for _ in range(spec.rooms)] for venue in VENUES}

    def _seed(self) -> int:
        self._next += 1
        return self._next - 1

    def _crowd(self, frames: int) -> np.ndarray:
        self.crowds_made += 1
        return crowd(frames, 1, self.sr, np.random.default_rng(self._seed()))[:, 0].astype(np.float32)

    def _room(self, venue: str) -> np.ndarray:
        self.rooms_made += 1
        return room_impulses(venue, self.sr, 1, self._seed())[0, 0]

    def refresh(self, rng: np.random.Generator) -> None:
        """Replace ``crowd_refresh`` crowds and ``room_refresh`` impulse responses (on average) with new ones."""
        self._due["crowd"] += self.spec.crowd_refresh
        self._due["room"] += self.spec.room_refresh
        while self._due["crowd"] >= 1:
            self._due["crowd"] -= 1
            self.crowds[int(rng.integers(len(self.crowds)))] = self._crowd(self.crowds.shape[1])
        while self._due["room"] >= 1:
            self._due["room"] -= 1
            venue = VENUES[int(rng.integers(len(VENUES)))]
            self.rooms[venue][int(rng.integers(self.spec.rooms))] = self._room(venue)

    def noise(self, batch: int, n: int, rng: np.random.Generator) -> torch.Tensor:
        """``(batch, 1, n)`` crowd excerpts: a random crowd each, from a random start (wrapping around)."""
        picks = rng.integers(len(self.crowds), size=batch)
        starts = rng.integers(self.crowds.shape[1], size=batch)
        index = (starts[:, None] + np.arange(n)[None]) % self.crowds.shape[1]
        return torch.from_numpy(self.crowds[picks[:, None], index][:, None])

    def irs(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """``(batch, 1, 1, taps)`` impulse responses, each item a random venue's random room, zero-padded."""
        chosen = [self.rooms[VENUES[int(rng.integers(len(VENUES)))]][int(rng.integers(self.spec.rooms))]
                  for _ in range(batch)]
        taps = max(ir.size for ir in chosen)
        return np.stack([np.pad(ir, (0, taps - ir.size)) for ir in chosen])[:, None, None]

    def degrade(self, views: torch.Tensor, snr_db: float, rng: np.random.Generator,
                generator: torch.Generator) -> torch.Tensor:
        """Mono ``views`` ``(B, n)`` through the concert chain at ``snr_db`` with this pool's rooms and crowds."""
        noise = self.noise(len(views), views.shape[1], rng)
        return concert_views(views[:, None], self.sr, snr_db, DRIFT_CENTS, generator, noise,
                             self.irs(len(views), rng))[:, 0]
