"""The fingerprint encoder's architecture and front end as data: one frozen dataclass, kept in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["FingerprintConfig"]


@dataclass(frozen=True)
class FingerprintConfig:
    """Log-mel front end (``mels`` bands of ``n_fft``-point frames every ``hop`` at ``sample_rate``) over windows
    of ``window_seconds``, a CNN of ``channels`` widths and an L2-normalised embedding of ``dim`` values."""

    sample_rate: int = 16000
    window_seconds: float = 1.0
    n_fft: int = 1024
    hop: int = 320  # 20 ms
    mels: int = 64
    f_min: float = 60.0
    f_max: float = 7600.0
    channels: tuple[int, ...] = (16, 32, 64, 128)
    dim: int = 128

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not 128 <= self.dim <= 256:
            raise ValueError(f"embedding dim must be 128…256 (seed 001), got {self.dim}")
        if not 0.5 <= self.window_seconds <= 3.0:
            raise ValueError(f"window_seconds must be 0.5…3 s, got {self.window_seconds}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"need 0 ≤ f_min < f_max ≤ Nyquist, got {self.f_min}…{self.f_max}")

    @property
    def window_samples(self) -> int:
        return round(self.window_seconds * self.sample_rate)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FingerprintConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fingerprint config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)
