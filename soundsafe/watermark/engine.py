"""Inference engines: the model's two operations on NumPy chunks, run by PyTorch or by ONNX Runtime.

:func:`soundsafe.watermark.api.embed`/``detect`` and the streaming classes only talk to an :class:`Engine`, so
the same code runs on a torch checkpoint (``model.pt``) or on the exported ONNX graphs (a folder holding
``model.json`` and the graphs of :mod:`soundsafe.watermark.export`), the latter without torch installed.
Chunks are mono ``(B, chunk_samples)`` float32 at the model's rate; ``seed`` is the key's carrier seed (the
ONNX graphs take its layout matrix as an input, so no key is baked into a file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.host_spectral import HostSpectral
from soundsafe.watermark.layout import carrier_layout

__all__ = ["ONNX_FILES", "Engine", "OnnxEngine", "TorchEngine", "load_engine"]

ONNX_FILES = {"embedder": "embedder.onnx", "detector": "detector.onnx", "spectral_shaper": "spectral_shaper.onnx",
              "spectral_pass": "spectral_pass.onnx", "spectral_detector": "spectral_detector.onnx",
              "card": "model.json"}
_FORM_GRAPHS = {"graph": ("embedder", "detector"),
                "spectral": ("spectral_shaper", "spectral_pass", "spectral_detector")}


class Engine(Protocol):
    """What embedding and detection need from a model."""

    config: ModelConfig
    llr_scale: float  # LLR per dB of statistic
    origin: str  # where the model came from (for messages)
    takes_spectrum: bool  # magnitude_statistics works (not ONNX's self-contained graphs, which take audio)

    def embed_chunks(self, host: np.ndarray, bits: np.ndarray, seed: int) -> np.ndarray:
        """Marked chunks ``(B, N)`` for host chunks ``(B, N)`` and 0/1 ``bits`` ``(B, K)``."""
        ...

    def statistics(self, chunks: np.ndarray, seed: int) -> np.ndarray:
        """Per-bit statistics in dB ``(B, K)``: about ±margin on marked chunks (sign = bit), ~0 elsewhere."""
        ...

    def magnitude_statistics(self, magnitude: np.ndarray, seed: int) -> np.ndarray:
        """:meth:`statistics` from the chunks' magnitude spectrum ``(B, frames, bins)`` (e.g. read at a
        time-stretch's tempo); only where :attr:`takes_spectrum`."""
        ...


class TorchEngine:
    """A :class:`~soundsafe.watermark.model.WatermarkModel` behind the :class:`Engine` interface."""

    takes_spectrum = True

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

    def magnitude_statistics(self, magnitude: np.ndarray, seed: int) -> np.ndarray:
        import torch

        with torch.no_grad():
            tensor = torch.from_numpy(np.ascontiguousarray(magnitude, np.float32))
            return self.model.statistics_of_magnitude(self.model.carrier(seed), tensor).numpy()


class OnnxEngine:
    """The exported ONNX graphs on ONNX Runtime (CPU); ``threads`` bounds its intra-op threads (0: ORT's choice).

    ``form="spectral"`` (the default when the export has them) runs the spectral graphs with the STFT on the
    host (:class:`~soundsafe.watermark.host_spectral.HostSpectral`: NumPy/SciPy); ``form="graph"`` runs the
    self-contained graphs, audio in and out, with the STFT inside ONNX Runtime (slower: its ``DFT`` kernel).
    """

    def __init__(self, folder: str | os.PathLike[str], threads: int = 0, precision: str = "fp32",
                 form: str | None = None) -> None:
        import onnxruntime as ort

        folder = Path(folder)
        card_path = folder / ONNX_FILES["card"]
        if not card_path.is_file():
            raise FileNotFoundError(f"{folder}: no {ONNX_FILES['card']} here; export a model with "
                                    "`soundsafe step export` (or `soundsafe.watermark.export.export_onnx`)")
        if precision not in ("fp32", "int8"):
            raise ValueError(f"precision must be 'fp32' or 'int8', got {precision!r}")
        suffix = "" if precision == "fp32" else f".{precision}"

        def path_of(role: str) -> Path:
            return folder / ONNX_FILES[role].replace(".onnx", f"{suffix}.onnx")

        if form is None:  # exports written before the spectral graphs existed have only the self-contained pair
            form = "spectral" if all(path_of(r).is_file() for r in _FORM_GRAPHS["spectral"]) else "graph"
        if form not in _FORM_GRAPHS:
            raise ValueError(f"form must be one of {sorted(_FORM_GRAPHS)}, got {form!r}")
        card = json.loads(card_path.read_text())
        self.config = ModelConfig.from_dict(card["config"])
        self.llr_scale = float(card["llr_scale"])
        self.form, self.precision = form, precision
        self.origin = f"{folder} (ONNX {precision}, {form})"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._sessions = {}
        for role in _FORM_GRAPHS[form]:
            path = path_of(role)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing ({precision} graphs are written by `soundsafe step export`)")
            self._sessions[role] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._layouts: dict[int, np.ndarray] = {}
        c = self.config
        self._spectral = HostSpectral(c.n_fft, c.hop, c.chunk_samples)

    def _layout(self, seed: int) -> np.ndarray:
        if seed not in self._layouts:
            self._layouts = {seed: carrier_layout(self.config, seed)}  # one key at a time is the normal case
        return self._layouts[seed]

    def embed_chunks(self, host: np.ndarray, bits: np.ndarray, seed: int) -> np.ndarray:
        host = np.ascontiguousarray(host, np.float32)
        bits = np.ascontiguousarray(bits, np.float32)
        layout = self._layout(seed)
        if self.form == "graph":
            return self._sessions["embedder"].run(["marked"], {"host": host, "bits": bits, "layout": layout})[0]
        c, hs = self.config, self._spectral
        lo, _ = c.band
        rows, cols = c.tile_grid
        frames, bins = rows * c.tile_frames, cols * c.tile_bins
        signs = bits * 2 - 1
        spec = hs.stft(host)
        shaping = self._sessions["spectral_shaper"].run(
            ["shaping"], {"magnitude": hs.magnitude(spec), "layout": layout})[0]
        marked = host
        push = np.zeros_like(spec)  # only the carrier's cells are ever written: the rest stays 0
        for n in range(c.passes):  # as Carrier.embed_pass: add what each bit still lacks, re-analyse
            if n:
                spec = hs.stft(marked)
            gain = self._sessions["spectral_pass"].run(["gain"], {"magnitude": hs.magnitude(spec), "signs": signs,
                                                                  "shaping": shaping, "layout": layout})[0]
            cells = np.repeat(np.repeat(gain, c.tile_frames, axis=1), c.tile_bins, axis=2)
            push[:, :frames, lo: lo + bins] = spec[:, :frames, lo: lo + bins] * cells
            marked = marked + hs.istft(push)
        return marked

    def statistics(self, chunks: np.ndarray, seed: int) -> np.ndarray:
        chunks = np.ascontiguousarray(chunks, np.float32)
        if self.form == "graph":
            return self._sessions["detector"].run(["statistics"], {"chunks": chunks, "layout": self._layout(seed)})[0]
        return self.magnitude_statistics(self._spectral.magnitude(self._spectral.stft(chunks)), seed)

    @property
    def takes_spectrum(self) -> bool:
        """Whether :meth:`magnitude_statistics` works: the spectral graphs take a spectrum, the others audio."""
        return self.form == "spectral"

    def magnitude_statistics(self, magnitude: np.ndarray, seed: int) -> np.ndarray:
        if not self.takes_spectrum:
            raise ValueError(f"{self.origin}: the self-contained graphs take audio, not a spectrum")
        return self._sessions["spectral_detector"].run(
            ["statistics"], {"magnitude": np.ascontiguousarray(magnitude, np.float32), "layout": self._layout(seed)})[0]


def load_engine(model: Any = None, threads: int = 0) -> Engine:
    """An engine for ``model``: an :class:`Engine` (returned as is), a ``WatermarkModel``, a
    :class:`~soundsafe.watermark.default_model.ModelChoice`, the name ``"carrier"`` (the untrained carrier), a
    path to an ONNX export folder (spectral fp32 graphs) or to one of its ``.onnx`` files (``spectral_*`` picks
    the spectral graphs, ``embedder``/``detector`` the self-contained ones; ``*.int8.onnx`` the int8 copies), a
    torch checkpoint path, or ``None`` for the default model (see :mod:`soundsafe.watermark.default_model`)."""
    from soundsafe.watermark.default_model import ModelChoice, choose_model

    if hasattr(model, "embed_chunks") and hasattr(model, "statistics") and hasattr(model, "llr_scale"):
        return model
    if model is not None and not isinstance(model, str | os.PathLike | ModelChoice):
        return TorchEngine(model)  # a WatermarkModel
    choice = model if isinstance(model, ModelChoice) else choose_model(model)
    if choice.is_carrier:
        from soundsafe.watermark.model import build_model

        return TorchEngine(build_model(), choice.describe())
    path = choice.path
    assert path is not None  # every choice but the carrier has a file
    if path.is_dir():
        engine: Engine = OnnxEngine(path, threads=threads)
    elif path.suffix == ".onnx":
        precision = "int8" if path.name.endswith(".int8.onnx") else "fp32"
        form = "spectral" if path.name.startswith("spectral_") else "graph"
        engine = OnnxEngine(path.parent, threads=threads, precision=precision, form=form)
    else:
        from soundsafe.watermark.checkpoint import load_model

        net, _ = load_model(path)
        engine = TorchEngine(net)
    engine.origin = choice.describe()
    return engine
