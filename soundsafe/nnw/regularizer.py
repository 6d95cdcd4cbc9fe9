"""The white-box mark as a training loss term, so a fine-tune on the task keeps (or builds) the mark.

Uchida et al. (2017) add a binary cross-entropy between sigmoid(X·w) and the bits; this is a hinge on the same
projections the reader uses (channel-normalized weights, in spreads): zero once every bit sits ``margin`` spreads
past its sign, so the term stops pulling as soon as the mark is safe and leaves the task loss alone after that.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from soundsafe.nnw.key import NnwKey

__all__ = ["mark_penalty"]


def mark_penalty(model: nn.Module, key: NnwKey, payload: np.ndarray, weight: float = 1.0
                 ) -> Callable[[nn.Module], torch.Tensor]:
    """``penalty(model)``: ``weight`` × the mean shortfall of the payload bits' projections below ``key.margin``
    spreads, for parameter ``key.layer`` of ``model`` (a clear ``KeyError`` when it has no such parameter)."""
    params = dict(model.named_parameters())
    if key.layer not in params:
        raise KeyError(f"the model has no parameter {key.layer!r}; parameters: {', '.join(params)}")
    shape = params[key.layer].shape
    x = torch.from_numpy(key.projection(int(np.prod(shape))).copy())
    sign = torch.from_numpy(2.0 * payload.astype(np.float32) - 1.0)
    spread = float(np.sqrt(shape[0] / np.prod(shape)))
    target = 1.1 * key.margin  # a little past the margin, so updates after the term goes quiet do not undo it

    def penalty(current: nn.Module) -> torch.Tensor:
        w = dict(current.named_parameters())[key.layer].reshape(shape[0], -1)
        v = (w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)).reshape(-1)
        return weight * torch.relu(target - sign * (x @ v) / spread).mean()

    return penalty
