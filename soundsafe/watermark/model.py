"""The watermark model: a keyed carrier shaped by a small network, read by a small network.

- The **shaper** looks at the host's tile levels and decides how to spread each bit's push over that bit's
  tiles (weights normalised to mean 1 per bit: it moves energy to where it survives and hides, it cannot add).
- The **reliability** network looks at the received tile levels and weights each tile's vote (a tile drowned by
  a codec hole or noise should count less), and a learned scale turns the weighted statistic into LLRs.
Both start as the identity (all weights 1), so an untrained model is the plain informed carrier and training
improves from a working point. Inputs are mono chunks ``(B, samples)``; channels and long files are handled by
:mod:`soundsafe.watermark.api`. :func:`build_model` is the pure factory.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from soundsafe.watermark.carrier import Carrier
from soundsafe.watermark.config import ModelConfig

__all__ = ["WatermarkModel", "build_model"]


def _tile_net(inputs: int, hidden: int) -> nn.Sequential:
    net = nn.Sequential(
        nn.Conv2d(inputs, hidden, 3, padding=1), nn.GELU(),
        nn.Conv2d(hidden, hidden, 3, padding=1), nn.GELU(),
        nn.Conv2d(hidden, 1, 1),
    )
    nn.init.zeros_(net[-1].weight)  # start as the identity: every tile weight 1
    nn.init.zeros_(net[-1].bias)
    return net


def _features(tiles: torch.Tensor) -> torch.Tensor:
    """Tile levels relative to the chunk's mean, in tens of dB (scale-free, order 1)."""
    return (tiles - tiles.mean(dim=(1, 2), keepdim=True)) / 10.0


class WatermarkModel(nn.Module):
    """Embedder (carrier + shaper) and detector (carrier + reliability + LLR scale) for one config."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.shaper = _tile_net(1, config.hidden)
        self.reliability = _tile_net(2, config.hidden)
        # LLR per dB of statistic; starts near what a margin of 0.7 dB over ~0.25 dB of noise gives
        self.log_llr_scale = nn.Parameter(torch.tensor(math.log(8.0)))
        self._carriers: dict[int, Carrier] = {}

    def carrier(self, seed: int | torch.Tensor) -> Carrier:
        """The carrier for a layout seed (cached: building one costs a permutation) or a layout matrix."""
        if isinstance(seed, torch.Tensor):
            return Carrier(self.config, layout=seed)
        if seed not in self._carriers:
            if len(self._carriers) > 64:
                self._carriers.clear()
            self._carriers[seed] = Carrier(self.config, seed).to(self.log_llr_scale.device)
        return self._carriers[seed]

    def shaping(self, carrier: Carrier, x: torch.Tensor) -> torch.Tensor:
        """Per-tile push weights ``(B, rows, cols)`` (mean 1 per bit) for mono chunks ``(B, samples)``."""
        return self.shaping_of_magnitude(carrier, carrier.magnitude(carrier.spectrum(x)))

    def shaping_of_magnitude(self, carrier: Carrier, magnitude: torch.Tensor) -> torch.Tensor:
        """:meth:`shaping` from the chunks' magnitude spectrum ``(B, frames, bins)``."""
        tiles = carrier.tile_levels_of_magnitude(magnitude)
        weights = 2 * torch.sigmoid(self.shaper(_features(tiles)[:, None])[:, 0])
        return carrier.normalise_per_bit(weights)

    def embed(self, x: torch.Tensor, bits: torch.Tensor, seed: int | torch.Tensor) -> torch.Tensor:
        """Marked mono chunks ``(B, samples)`` carrying ``bits`` ``(B, K)`` (0/1) under layout ``seed``
        (a seed, or the layout matrix of :func:`~soundsafe.watermark.layout.carrier_layout`)."""
        carrier = self.carrier(seed)
        signs = bits.to(x.dtype) * 2 - 1
        shaping = self.shaping(carrier, x)
        y = x
        for _ in range(self.config.passes):
            y = carrier.embed_pass(y, signs, shaping)
        return y

    def statistics(self, x: torch.Tensor, seed: int | torch.Tensor) -> torch.Tensor:
        """Reliability-weighted per-bit statistics in dB, ``(B, K)``."""
        carrier = self.carrier(seed)
        return self.statistics_of_magnitude(carrier, carrier.magnitude(carrier.spectrum(x)))

    def statistics_of_magnitude(self, carrier: Carrier, magnitude: torch.Tensor) -> torch.Tensor:
        """:meth:`statistics` from the chunks' magnitude spectrum ``(B, frames, bins)``."""
        tiles = carrier.tile_levels_of_magnitude(magnitude)
        white = carrier.whiten(tiles)
        features = torch.stack([_features(tiles), white / 3.0], dim=1)
        weights = F.softplus(self.reliability(features)[:, 0] + math.log(math.e - 1))
        return carrier.statistics(white, weights)

    def llr(self, x: torch.Tensor, seed: int | torch.Tensor) -> torch.Tensor:
        """Log-likelihood ratios ``log P(1)/P(0)`` per bit, ``(B, K)``."""
        return self.statistics(x, seed) * self.log_llr_scale.exp()

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(config: ModelConfig | None = None) -> WatermarkModel:
    """A fresh model for ``config`` (defaults: 64 bits per 1 s chunk at 44.1 kHz)."""
    return WatermarkModel(config or ModelConfig())
