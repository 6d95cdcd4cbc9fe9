"""Echo marks for training data: a single echo ``y = x + α·x[n − δ]`` or a keyed time-spread echo.

The time-spread echo (Ko, Nishimura & Suzuki 2005) replaces the single tap by a ±1 pseudo-noise sequence ``p`` of
``pn_length`` taps starting at ``delay``, each at ``alpha / √pn_length`` (the echo energy of one tap of ``alpha``):
its comb is spread over the spectrum, so it is quieter per frequency and only someone with the key (the seed of
``p``) can look for it. Unlike :mod:`soundsafe.baselines.echo` these marks carry no bits: one fixed echo over the
whole catalogue is what a model trained on it learns to reproduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.signal import fftconvolve

__all__ = ["EchoMark", "apply_mark", "parse_mark"]


@dataclass(frozen=True)
class EchoMark:
    """One attribution mark: ``kind`` "echo" (one tap) or "tse" (keyed pseudo-noise taps), at ``delay`` samples."""

    kind: Literal["echo", "tse"]
    delay: int
    alpha: float
    pn_length: int = 1024
    key: int = 0  # the time-spread sequence's seed (the secret of a "tse" mark)

    def __post_init__(self) -> None:
        if self.kind not in ("echo", "tse"):
            raise ValueError(f"mark kind {self.kind!r} is unknown; choose echo or tse")
        if self.delay < 1 or not 0 < self.alpha < 1:
            raise ValueError(f"mark needs delay ≥ 1 sample and 0 < alpha < 1, got delay {self.delay}, "
                             f"alpha {self.alpha}")
        if self.kind == "tse" and self.pn_length < 16:
            raise ValueError(f"a time-spread echo needs pn_length ≥ 16, got {self.pn_length}")

    @property
    def name(self) -> str:
        return f"echo{self.delay}" if self.kind == "echo" else f"tse{self.delay}"

    @property
    def span(self) -> int:
        """Samples from the first to the last tap (1 for a single echo)."""
        return 1 if self.kind == "echo" else self.pn_length

    def pn(self) -> np.ndarray:
        return np.random.default_rng(self.key).choice([-1.0, 1.0], size=self.pn_length)

    def kernel(self) -> np.ndarray:
        """The echo's impulse response (without the direct path)."""
        k = np.zeros(self.delay + self.span)
        if self.kind == "echo":
            k[self.delay] = self.alpha
        else:
            k[self.delay:] = self.alpha / math.sqrt(self.pn_length) * self.pn()
        return k


def apply_mark(audio: np.ndarray, mark: EchoMark) -> np.ndarray:
    """``audio`` (samples,) or (samples, channels) plus its echo, same shape, float32, scaled down only if the
    echo would clip."""
    x = np.asarray(audio, dtype=np.float64)
    flat = x[:, None] if x.ndim == 1 else x
    echo = np.stack([fftconvolve(flat[:, c], mark.kernel())[: flat.shape[0]] for c in range(flat.shape[1])], 1)
    y = flat + echo
    peak = float(np.abs(y).max(initial=0.0))
    if peak > 1.0:
        y /= peak
    y = y.astype(np.float32)
    return y[:, 0] if x.ndim == 1 else y


def parse_mark(text: str, alpha: float, tse_alpha: float, pn_length: int, key: int) -> EchoMark:
    """A mark from its name: ``echo75`` (single echo, 75 samples) or ``tse100`` (time-spread from 100 samples)."""
    for kind, a in (("echo", alpha), ("tse", tse_alpha)):
        if text.startswith(kind) and text[len(kind):].isdigit():
            return EchoMark(kind, int(text[len(kind):]), a, pn_length, key)  # type: ignore[arg-type]
    raise ValueError(f"mark {text!r}: expected echoN or tseN (N = delay in samples), e.g. echo75 or tse100")
