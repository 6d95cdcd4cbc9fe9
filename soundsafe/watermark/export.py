"""Export the watermark model to ONNX (embedder and detector, dynamic chunk axis) plus int8 copies.

Two forms, every graph taking the key's layout matrix as an input (so one file serves every key):

*Self-contained* graphs, audio in and out (the STFT inside, as ``DFT`` nodes), for any ONNX runtime:

- ``embedder.onnx``: ``host (chunks, N)``, ``bits (chunks, K)``, ``layout (tiles, K)`` → ``marked (chunks, N)``
- ``detector.onnx``: ``chunks (chunks, N)``, ``layout (tiles, K)`` → ``statistics (chunks, K)`` (dB) and
  ``llr (chunks, K)``

*Spectral* graphs, which take the magnitude spectrum ``(chunks, frames, bins)`` of the carrier's STFT and leave
the transforms to the host (NumPy/SciPy: ONNX Runtime's ``DFT`` kernel is ~30× slower than a real FFT library,
``benchmarks/onnx_dft.py``); :class:`~soundsafe.watermark.engine.OnnxEngine` runs these by default:

- ``spectral_shaper.onnx``: ``magnitude``, ``layout`` → ``shaping (chunks, rows, cols)`` (per-tile push weights)
- ``spectral_pass.onnx``: ``magnitude``, ``signs (chunks, K)`` (±1), ``shaping``, ``layout`` → ``gain (chunks,
  rows, cols)``: one closed-loop pass's amplitude change per tile, minus 1 (the host multiplies the tile's STFT
  cells by it, inverts and adds; ``passes`` times, re-analysing in between)
- ``spectral_detector.onnx``: ``magnitude``, ``layout`` → ``statistics``, ``llr``

``model.json`` beside them holds the model config, the LLR scale and where the weights came from;
:class:`~soundsafe.watermark.engine.OnnxEngine` loads the folder. ``*.int8.onnx`` are ONNX Runtime's dynamic
int8 quantization of the same graphs (the shaping and reliability convolutions become ``ConvInteger``; the
spectral transforms stay float, as they must).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from soundsafe.atomic import atomic_dir
from soundsafe.checksum import sha256_file
from soundsafe.watermark.engine import ONNX_FILES
from soundsafe.watermark.layout import carrier_layout
from soundsafe.watermark.model import WatermarkModel

__all__ = ["OPSET", "export_onnx"]

OPSET = 18  # DFT, Col2Im-era opset that ONNX Runtime 1.17+ runs on CPU


class _EmbedderGraph(nn.Module):
    def __init__(self, model: WatermarkModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, host: torch.Tensor, bits: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
        return self.model.embed(host, bits, layout)


class _DetectorGraph(nn.Module):
    def __init__(self, model: WatermarkModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, chunks: torch.Tensor, layout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stats = self.model.statistics(chunks, layout)
        return stats, stats * self.model.log_llr_scale.exp()


class _SpectralShaperGraph(nn.Module):
    def __init__(self, model: WatermarkModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, magnitude: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
        return self.model.shaping_of_magnitude(self.model.carrier(layout), magnitude)


class _SpectralPassGraph(nn.Module):
    def __init__(self, model: WatermarkModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, magnitude: torch.Tensor, signs: torch.Tensor, shaping: torch.Tensor,
                layout: torch.Tensor) -> torch.Tensor:
        return self.model.carrier(layout).tile_gain(magnitude, signs, shaping)


class _SpectralDetectorGraph(nn.Module):
    def __init__(self, model: WatermarkModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, magnitude: torch.Tensor, layout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stats = self.model.statistics_of_magnitude(self.model.carrier(layout), magnitude)
        return stats, stats * self.model.log_llr_scale.exp()


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], names: list[str], outputs: list[str],
            path: Path) -> None:
    chunks = torch.export.Dim("chunks", min=1, max=4096)
    dynamic = {name: ({0: chunks} if name != "layout" else None) for name in names}
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(module, args, str(path), input_names=names, output_names=outputs, opset_version=OPSET,
                          dynamo=True, dynamic_shapes=dynamic, external_data=False, verbose=False)


def _quantize(src: Path, dest: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # its "consider pre-processing" hint is for CNN image models
    quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8)


def export_onnx(model: WatermarkModel, folder: str | os.PathLike[str], source: str = "") -> dict[str, Any]:
    """Write the self-contained and spectral graphs, their ``.int8.onnx`` copies and ``model.json`` to ``folder``
    (atomically: the folder appears complete or not at all). Returns the model card."""
    model = model.eval()
    c = model.config
    layout = torch.from_numpy(carrier_layout(c, 0))
    generator = torch.Generator().manual_seed(0)
    host = torch.randn(2, c.chunk_samples, generator=generator) * 0.1
    bits = torch.randint(0, 2, (2, c.bits), generator=generator).float()
    with atomic_dir(folder) as tmp, torch.no_grad():
        carrier = model.carrier(layout)
        magnitude = carrier.magnitude(carrier.spectrum(host))  # example inputs of the spectral graphs
        shaping = model.shaping_of_magnitude(carrier, magnitude)
        # role → (graph, example inputs, input names, output names); the card lists the same signatures
        graphs = {
            "embedder": (_EmbedderGraph(model), (host, bits, layout), ["host", "bits", "layout"], ["marked"]),
            "detector": (_DetectorGraph(model), (host, layout), ["chunks", "layout"], ["statistics", "llr"]),
            "spectral_shaper": (_SpectralShaperGraph(model), (magnitude, layout), ["magnitude", "layout"],
                                ["shaping"]),
            "spectral_pass": (_SpectralPassGraph(model), (magnitude, bits * 2 - 1, shaping, layout),
                              ["magnitude", "signs", "shaping", "layout"], ["gain"]),
            "spectral_detector": (_SpectralDetectorGraph(model), (magnitude, layout), ["magnitude", "layout"],
                                  ["statistics", "llr"]),
        }
        for role, (module, args, inputs, outputs) in graphs.items():
            fp32 = tmp / ONNX_FILES[role]
            _export(module, args, inputs, outputs, fp32)
            _quantize(fp32, fp32.with_name(fp32.name.replace(".onnx", ".int8.onnx")))
        # the checkpoint's hash lets the default-model lookup tell a current export from a stale one
        sha = sha256_file(source) if source and Path(source).is_file() else None
        card = {"config": c.to_dict(), "llr_scale": float(model.log_llr_scale.detach().exp()), "source": source,
                "source_sha256": sha,
                "opset": OPSET, "torch": torch.__version__,
                "inputs": {role: g[2] for role, g in graphs.items()},
                "outputs": {role: g[3] for role, g in graphs.items()}}
        (tmp / ONNX_FILES["card"]).write_text(json.dumps(card, indent=2) + "\n")
    return card
