"""Modifications of a model's weights that MPAI-NNW evaluates a mark against, on ``{name: array}`` state dicts.

Each applies to every weight tensor of two or more dimensions (convolutions, linear layers), layer by layer, as
someone who wants the model and not its mark would: Gaussian noise with σ a fraction of each layer's standard
deviation, unstructured L1 (smallest magnitudes) and random pruning, and symmetric per-output-channel uniform
quantization (fake-quant) to ``bits``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fake_quant", "gaussian_noise", "l1_prune", "random_prune"]

State = dict[str, np.ndarray]


def _weights(state: State) -> list[str]:
    return [name for name, w in state.items() if np.asarray(w).ndim >= 2]


def gaussian_noise(state: State, sigma: float, rng: np.random.Generator) -> State:
    """Each weight tensor plus N(0, (σ · its std)²)."""
    out = dict(state)
    for name in _weights(state):
        w = np.asarray(state[name])
        out[name] = (w + rng.normal(0.0, sigma * float(w.std()), w.shape)).astype(w.dtype)
    return out


def l1_prune(state: State, fraction: float) -> State:
    """Each weight tensor with its ``fraction`` smallest-magnitude entries set to 0."""
    out = dict(state)
    for name in _weights(state):
        w = np.asarray(state[name])
        cut = np.quantile(np.abs(w), fraction)
        out[name] = np.where(np.abs(w) <= cut, 0, w).astype(w.dtype) if fraction > 0 else w
    return out


def random_prune(state: State, fraction: float, rng: np.random.Generator) -> State:
    """Each weight tensor with a random ``fraction`` of its entries set to 0."""
    out = dict(state)
    for name in _weights(state):
        w = np.asarray(state[name])
        out[name] = np.where(rng.random(w.shape) < fraction, 0, w).astype(w.dtype)
    return out


def fake_quant(state: State, bits: int) -> State:
    """Each weight tensor rounded to ``bits``-bit symmetric levels per output channel (first axis)."""
    if not 2 <= bits <= 16:
        raise ValueError(f"fake-quant bits must be 2 … 16, got {bits}")
    levels = 2 ** (bits - 1) - 1
    out = dict(state)
    for name in _weights(state):
        w = np.asarray(state[name])
        rows = w.reshape(len(w), -1)
        scale = np.maximum(np.abs(rows).max(axis=1, keepdims=True), 1e-12) / levels
        out[name] = (np.round(rows / scale) * scale).reshape(w.shape).astype(w.dtype)
    return out
