"""A simulated watermark channel for tests and code benchmarks: bits → soft bits with errors and lost chunks.

``awgn`` models a detector whose outputs are Gaussian around ±1 (LLR = 2y/σ², σ set so that hard decisions
have bit error rate ``ber``); ``bsc`` flips bits with probability ``ber`` and reports the matching constant
LLR magnitude. Lost chunks come back as ``None``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import ndtri

__all__ = ["simulate_channel"]


def simulate_channel(bits: np.ndarray, *, ber: float, loss: float = 0.0, rng: np.random.Generator,
                     model: Literal["awgn", "bsc"] = "awgn") -> list[np.ndarray | None]:
    """Soft bits (``log P(1)/P(0)``) for each row of ``bits`` (n_chunks, K) through a noisy, lossy channel."""
    if not 0 <= ber < 0.5:
        raise ValueError(f"ber must be in [0, 0.5), got {ber}")
    if not 0 <= loss <= 1:
        raise ValueError(f"loss must be in [0, 1], got {loss}")
    signs = bits.astype(np.float64) * 2 - 1
    if ber == 0:
        llr = signs * 20.0
    elif model == "awgn":
        sigma = 1.0 / float(ndtri(1 - ber))
        llr = 2 * (signs + sigma * rng.standard_normal(signs.shape)) / sigma**2
    else:
        flips = rng.random(signs.shape) < ber
        llr = np.where(flips, -signs, signs) * np.log((1 - ber) / ber)
    lost = rng.random(len(bits)) < loss
    return [None if gone else row for row, gone in zip(llr, lost, strict=True)]
