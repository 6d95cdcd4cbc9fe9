"""The model's architecture as data: one frozen dataclass, stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["ModelConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """Carrier geometry, embedding targets and network widths.

    ``bits`` (K) ride on each ``chunk_seconds`` chunk at ``sample_rate``: with the defaults 64 bits per second.
    The carrier lives in the STFT log-magnitude between ``low_hz`` and ``high_hz``, in tiles of
    ``tile_frames`` × ``tile_bins`` STFT cells; each tile carries one keyed ±1 chip of one bit.
    """

    sample_rate: int = 44100
    chunk_seconds: float = 1.0
    bits: int = 64
    n_fft: int = 2048
    hop: int = 441  # 10 ms: a 1 s chunk is exactly 100 frames, so chunk starts fall on the frame grid
    low_hz: float = 2000.0
    high_hz: float = 9000.0
    tile_frames: int = 4
    tile_bins: int = 4
    margin_db: float = 2.0  # whitened correlation the embedder aims each bit at (params.yaml says why 2)
    cap_db: float = 3.0  # largest push per bit and pass
    passes: int = 4  # closed-loop embedding passes (re-analyse, correct)
    floor_db: float = 70.0  # cells quieter than the frame's peak minus this carry nothing
    hidden: int = 16  # channels of the shaping and reliability networks

    def __post_init__(self) -> None:
        if self.bits < 8 or self.bits % 8:
            raise ValueError(f"bits (K) must be a positive multiple of 8, got {self.bits}")
        if not 0 < self.low_hz < self.high_hz <= self.sample_rate / 2:
            raise ValueError(f"need 0 < low_hz < high_hz ≤ Nyquist, got {self.low_hz}…{self.high_hz}")
        if self.tiles < 4 * self.bits:
            raise ValueError(f"only {self.tiles} tiles for {self.bits} bits: widen the band or shrink the tiles")

    @property
    def chunk_samples(self) -> int:
        return round(self.sample_rate * self.chunk_seconds)

    @property
    def frames(self) -> int:
        return self.chunk_samples // self.hop  # frames whose centres fall inside the chunk

    @property
    def band(self) -> tuple[int, int]:
        lo = round(self.low_hz / self.sample_rate * self.n_fft)
        hi = round(self.high_hz / self.sample_rate * self.n_fft)
        return lo, lo + (hi - lo) // self.tile_bins * self.tile_bins

    @property
    def tile_grid(self) -> tuple[int, int]:
        lo, hi = self.band
        return self.frames // self.tile_frames, (hi - lo) // self.tile_bins

    @property
    def tiles(self) -> int:
        rows, cols = self.tile_grid
        return rows * cols

    @property
    def bits_per_second(self) -> float:
        return self.bits / self.chunk_seconds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)
