"""Inference engines: the model's two operations on NumPy chunks, run by PyTorch or by ONNX Runtime.

:func:`soundsafe.watermark.api.embed`/``detect`` and the streaming classes only talk to an :class:`Engine`, so
the same code runs on a torch checkpoint (``model.pt``) or on the exported ONNX pair (a folder holding
``embedder.onnx``, ``detector.onnx`` and ``model.json``; see :mod:`soundsafe.watermark.export`), the latter
without torch installed. Chunks are mono ``(B, chunk_samples)`` float32 at the model's rate; ``seed`` is the
key's carrier seed (the ONNX graphs take its layout matrix as an input, so no key is baked into a file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.layout import carrier_layout

__all__ = ["ONNX_FILES", "Engine", "OnnxEngine", "TorchEngine", "load_engine"]

ONNX_FILES = {"embedder": "embedder.onnx", "detector": "detector.onnx", "card": "model.json"}


class Engine(Protocol):
    """What embedding and detection need from a model."""

    config: ModelConfig
    llr_scale: float  # LLR per dB of statistic
    origin: str  # where the model came from (for messages)

    def embed_chunks(self, host: np.ndarray, bits: np.ndarray, seed: int) -> np.ndarray:
        """Marked chunks ``(B, N)`` for host chunks ``(B, N)`` and 0/1 ``bits`` ``(B, K)``."""
        ...

    def statistics(self, chunks: np.ndarray, seed: int) -> np.ndarray:
        """Per-bit statistics in dB ``(B, K)``: about ±margin on marked chunks (sign = bit), ~0 elsewhere."""
        ...


class TorchEngine:
    """A :class:`~soundsafe.watermark.model.WatermarkModel` behind the :class:`Engine` interface."""

    def __init__(self, model: Any, origin: str = "torch model") -> None:
        self.model, self.origin = model.eval(), origin
        self.config: ModelConfig = model.config
        self.llr_scale = float(model.log_llr_scale.detach().exp())

    def embed_chunks(self, host: np.ndarray, bits: np.ndarray, seed: int) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self.model.embed(torch.from_numpy(np.ascontiguousarray(host, np.float32)),
                                   torch.from_numpy(np.ascontiguousarray(bits, np.float32)), seed)
        return out.numpy()

    def statistics(self, chunks: np.ndarray, seed: int) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model.statistics(torch.from_numpy(np.ascontiguousarray(chunks, np.float32)), seed).numpy()


class OnnxEngine:
    """The exported ONNX pair on ONNX Runtime (CPU); ``threads`` bounds its intra-op threads (0: ORT's choice)."""

    def __init__(self, folder: str | os.PathLike[str], threads: int = 0, precision: str = "fp32") -> None:
        import onnxruntime as ort

        folder = Path(folder)
        card_path = folder / ONNX_FILES["card"]
        if not card_path.is_file():
            raise FileNotFoundError(f"{folder}: no {ONNX_FILES['card']} here; export a model with "
                                    "`soundsafe step export` (or `soundsafe.watermark.export.export_onnx`)")
        card = json.loads(card_path.read_text())
        self.config = ModelConfig.from_dict(card["config"])
        self.llr_scale = float(card["llr_scale"])
        self.origin = f"{folder} (ONNX {precision})"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        suffix = "" if precision == "fp32" else f".{precision}"
        self._sessions = {}
        for role in ("embedder", "detector"):
            path = folder / ONNX_FILES[role].replace(".onnx", f"{suffix}.onnx")
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing ({precision} graphs are written by `soundsafe step export`)")
            self._sessions[role] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._layouts: dict[int, np.ndarray] = {}

    def _layout(self, seed: int) -> np.ndarray:
        if seed not in self._layouts:
            self._layouts = {seed: carrier_layout(self.config, seed)}  # one key at a time is the normal case
        return self._layouts[seed]

    def embed_chunks(self, host: np.ndarray, bits: np.ndarray, seed: int) -> np.ndarray:
        feeds = {"host": np.ascontiguousarray(host, np.float32), "bits": np.ascontiguousarray(bits, np.float32),
                 "layout": self._layout(seed)}
        return self._sessions["embedder"].run(["marked"], feeds)[0]

    def statistics(self, chunks: np.ndarray, seed: int) -> np.ndarray:
        feeds = {"chunks": np.ascontiguousarray(chunks, np.float32), "layout": self._layout(seed)}
        return self._sessions["detector"].run(["statistics"], feeds)[0]


def load_engine(model: Any = None, threads: int = 0) -> Engine:
    """An engine for ``model``: an :class:`Engine` (returned as is), a ``WatermarkModel``, a path to an ONNX
    export folder (or one of its ``.onnx`` files; ``*.int8.onnx`` picks the int8 pair), a torch checkpoint path,
    or ``None`` for the default model (see :mod:`soundsafe.watermark.checkpoint`)."""
    if hasattr(model, "embed_chunks") and hasattr(model, "statistics") and hasattr(model, "llr_scale"):
        return model
    if model is not None and not isinstance(model, str | os.PathLike):
        return TorchEngine(model)  # a WatermarkModel
    path = Path(model) if model is not None else None
    if path is not None and (path.is_dir() or path.suffix == ".onnx"):
        folder = path if path.is_dir() else path.parent
        precision = "int8" if path.name.endswith(".int8.onnx") else "fp32"
        return OnnxEngine(folder, threads=threads, precision=precision)
    from soundsafe.watermark.checkpoint import load_model

    net, origin = load_model(path)
    return TorchEngine(net, origin)
