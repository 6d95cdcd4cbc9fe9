"""The keyed carrier layout as a matrix, in numpy only (so ONNX Runtime users need no torch).

Every carrier tile belongs to one of the K bits and carries a ±1 chip. Both come from ``seed`` (the key's
``carrier_seed``) through a fixed sequence of NumPy draws, so torch and ONNX runs agree. The layout matrix
``(tiles, K)`` holds the chip in the column of the tile's bit and 0 elsewhere: a bit's statistic is then a matrix
product, which every runtime does fast and which exports cleanly.
"""

from __future__ import annotations

import numpy as np

from soundsafe.watermark.config import ModelConfig

__all__ = ["carrier_layout"]


def carrier_layout(config: ModelConfig, seed: int) -> np.ndarray:
    """Signed assignment matrix ``(tiles, K)`` float32 for the layout secret ``seed``."""
    rows, cols = config.tile_grid
    rng = np.random.default_rng(seed)
    assign = rng.permutation(rows * cols) % config.bits
    chips = rng.choice([-1.0, 1.0], rows * cols)
    layout = np.zeros((rows * cols, config.bits), dtype=np.float32)
    layout[np.arange(rows * cols), assign] = chips
    return layout
