"""The keyed carrier: tiles of STFT log-magnitude, each carrying a ±1 chip of one bit.

A chunk's STFT (Hann, ``n_fft``, ``hop``; frame ``t`` centred at sample ``t·hop``) is cut, inside the carrier
band, into tiles of ``tile_frames`` × ``tile_bins`` cells. A secret permutation assigns every tile to one of the
K bits and a secret sign (chip). A tile's value is its cells' mean level in dB (cells below the chunk's peak
minus ``floor_db`` count at that floor); *whitening* subtracts the mean of the 3 × 3 tiles around it, which
removes the host's smooth spectral envelope. A bit's statistic is the weighted mean of chip × whitened tile over
its tiles: about ``+margin`` dB for a 1, ``−margin`` for a 0 on marked audio, about 0 elsewhere.

The embedder is *informed* (it measures the host's own statistic per bit and adds only what is missing to reach
``±margin``) and *closed-loop* (it re-analyses its output and corrects, ``passes`` times), which undoes the
smearing of overlapping STFT frames. Everything is torch and differentiable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.layout import carrier_layout
from soundsafe.watermark.spectral import istft, ola_envelope, stft

__all__ = ["Carrier"]

_WHITEN_KEEP = 1 - 1 / 9  # whitening keeps 8/9 of a tile's own push (the 3×3 mean includes the tile)


class Carrier(nn.Module):
    """Tile layout (secret) and the carrier's analysis, statistics and one embedding pass."""

    def __init__(self, config: ModelConfig, seed: int | None = None, layout: torch.Tensor | None = None) -> None:
        """``seed``: the layout secret, ``PayloadKey.carrier_seed`` (random per batch in training); or ``layout``,
        the matrix :func:`carrier_layout` makes from it (how the exported graphs take the key as an input)."""
        super().__init__()
        self.config = config
        if layout is None:
            if seed is None:
                raise ValueError("a Carrier needs a layout seed or a layout matrix")
            layout = torch.from_numpy(carrier_layout(config, seed))
        self.register_buffer("layout", layout, persistent=False)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        # a chunk's frame count is fixed by the config: its overlap-add envelope is computed once
        chunk_frames = config.chunk_samples // config.hop + 1
        self.register_buffer("envelope", ola_envelope(chunk_frames, config.hop, self.window), persistent=False)

    @property
    def membership(self) -> torch.Tensor:
        """``(tiles, K)`` with 1 where a tile belongs to a bit."""
        return self.layout.abs()

    # analysis -------------------------------------------------------------------------------------------------
    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``(B, frames, bins)`` of mono ``(B, samples)``; frame t centred at sample t·hop."""
        return stft(x, self.config.n_fft, self.config.hop, self.window)

    @staticmethod
    def magnitude(spec: torch.Tensor) -> torch.Tensor:
        """``|spec|`` with a gradient at 0, ``(B, frames, bins)``: what every read of the carrier starts from."""
        return (spec.real.pow(2) + spec.imag.pow(2) + 1e-18).sqrt()

    def cell_db(self, spec: torch.Tensor) -> torch.Tensor:
        """Carrier-band levels in dB, ``(B, frames, band bins)``, floored relative to each chunk's peak."""
        return self.cell_db_of_magnitude(self.magnitude(spec))

    def cell_db_of_magnitude(self, magnitude: torch.Tensor) -> torch.Tensor:
        """:meth:`cell_db` from the magnitude spectrum ``(B, frames, bins)`` (how the spectral ONNX graphs read)."""
        lo, hi = self.config.band
        peak = magnitude.amax(dim=(1, 2), keepdim=True)
        db = 20 * torch.log10(magnitude[:, :, lo:hi].clamp_min(1e-9))
        floor = 20 * torch.log10(peak.clamp_min(1e-9)) - self.config.floor_db
        return torch.maximum(db, floor)

    def tiles(self, cells: torch.Tensor) -> torch.Tensor:
        """Mean dB per tile, ``(B, rows, cols)``, from cells ``(B, frames ≥ rows·tile_frames, band bins)``."""
        c = self.config
        rows, cols = c.tile_grid
        used = cells[:, : rows * c.tile_frames, : cols * c.tile_bins]
        return used.reshape(-1, rows, c.tile_frames, cols, c.tile_bins).mean(dim=(2, 4))

    @staticmethod
    def whiten(tiles: torch.Tensor) -> torch.Tensor:
        """Tile level minus the mean of its 3 × 3 neighbourhood (edges replicate)."""
        local = F.avg_pool2d(F.pad(tiles[:, None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, 0]
        return tiles - local

    def statistics(self, white: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Per-bit weighted mean of chip × whitened tile, ``(B, K)``."""
        flat = white.flatten(1)
        if weights is None:
            return flat @ self.layout / self.membership.sum(0)
        w = weights.flatten(1)
        return (flat * w) @ self.layout / (w @ self.membership).clamp_min(1e-9)

    def tile_levels(self, x: torch.Tensor) -> torch.Tensor:
        """Tile levels in dB ``(B, rows, cols)`` of mono chunks ``(B, samples)``."""
        return self.tiles(self.cell_db(self.spectrum(x)))

    def tile_levels_of_magnitude(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Tile levels in dB ``(B, rows, cols)`` from the magnitude spectrum ``(B, frames, bins)``."""
        return self.tiles(self.cell_db_of_magnitude(magnitude))

    # embedding ------------------------------------------------------------------------------------------------
    def normalise_per_bit(self, weights: torch.Tensor) -> torch.Tensor:
        """Scale tile weights ``(B, rows, cols)`` so each bit's tiles average 1: shaping moves energy, no more."""
        flat = weights.flatten(1)
        member = self.membership
        mean = (flat @ member) / member.sum(0)
        return (flat / (mean @ member.T).clamp_min(1e-9)).reshape(weights.shape)

    def tile_gain(self, magnitude: torch.Tensor, signs: torch.Tensor, shaping: torch.Tensor) -> torch.Tensor:
        """One informed pass's amplitude change per tile, ``(B, rows, cols)``, as ``gain − 1``: what each bit
        (±1 in ``signs``) still lacks, read from the magnitude spectrum ``(B, frames, bins)`` of the audio."""
        c = self.config
        host = self.statistics(self.whiten(self.tiles(self.cell_db_of_magnitude(magnitude))))
        need = torch.where(signs * host < c.margin_db, signs * c.margin_db - host, torch.zeros_like(host))
        need = need.clamp(-c.cap_db, c.cap_db)
        push_db = (need @ self.layout.T).reshape(shaping.shape) * shaping / _WHITEN_KEEP
        return 10 ** (push_db / 20) - 1

    def embed_pass(self, x: torch.Tensor, signs: torch.Tensor, shaping: torch.Tensor) -> torch.Tensor:
        """One informed pass on mono ``(B, samples)``: add what each bit (±1 in ``signs``) still lacks."""
        c = self.config
        spec = self.spectrum(x)
        gain = self.tile_gain(self.magnitude(spec), signs, shaping)  # (B, rows, cols) → cells (B, frames, band bins)
        cells = gain.repeat_interleave(c.tile_frames, 1).repeat_interleave(c.tile_bins, 2)
        lo, _ = c.band
        full = F.pad(cells, (lo, spec.shape[2] - lo - cells.shape[2], 0, spec.shape[1] - cells.shape[1]))
        return x + istft(spec * full, c.n_fft, c.hop, self.window, x.shape[-1], self.envelope)
