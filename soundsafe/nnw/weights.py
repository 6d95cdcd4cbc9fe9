"""Model weights in and out: a ``{name: array}`` view of a torch checkpoint or an ONNX file, and a marked
checkpoint written back.

Torch checkpoints are SoundSafe's (``{"config", "state", …}``, as ``fingerprint_train`` writes them) or a plain
state dict; ONNX files are read through their initializers, whose names the exporter keeps from the torch
parameters (``body.12.weight``) — with any BatchNorm folded into the convolution before it, which the white-box
mark is built to ignore; the int8 weights of a QDQ-quantized graph are dequantized and keep those names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from soundsafe.atomic import atomic_path

__all__ = ["layer", "load_state", "write_marked"]


def _torch_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(state dict, the checkpoint dict around it or None)``."""
    import torch

    data = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(data, dict) and isinstance(data.get("state"), dict):
        return data["state"], data
    if isinstance(data, dict) and data and all(hasattr(v, "shape") for v in data.values()):
        return data, None
    raise ValueError(f"{path}: not a torch checkpoint with a state dict (SoundSafe's {{'state': …}} or a plain one)")


def load_state(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every named tensor of a ``.pt`` checkpoint or an ``.onnx`` model's initializers, as float arrays."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no model file here")
    if path.suffix == ".onnx":
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(path))
        return _dequantized({i.name: numpy_helper.to_array(i) for i in model.graph.initializer}, model.graph)
    state, _ = _torch_checkpoint(path)
    return {name: t.detach().cpu().numpy() for name, t in state.items() if t.is_floating_point()}


def _dequantized(arrays: dict[str, np.ndarray], graph: Any) -> dict[str, np.ndarray]:
    """Integer weights of a QDQ-quantized graph (``body.12.weight_quantized`` read by a ``DequantizeLinear``)
    back as floats under their torch names: (q − zero point) · scale, per channel along the node's axis."""
    out = dict(arrays)
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in arrays:
            continue
        q = arrays[node.input[0]]
        if not np.issubdtype(q.dtype, np.integer) or q.ndim < 2:
            continue
        scale = arrays[node.input[1]].astype(np.float32)
        zero = arrays[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        if np.ndim(scale) == 1:
            shape[axis] = -1
        w = (q.astype(np.float32) - np.reshape(zero, shape)) * np.reshape(scale, shape)
        del out[node.input[0]]
        out[node.input[0].removesuffix("_quantized")] = w
    return out


def layer(state: dict[str, np.ndarray], name: str, path: str | os.PathLike[str]) -> np.ndarray:
    """``state[name]``, or a clear error naming the layers that could carry a mark."""
    if name not in state:
        candidates = ", ".join(n for n, w in state.items() if np.asarray(w).ndim >= 2) or "none"
        raise KeyError(f"{path}: no layer {name!r}; layers with ≥ 2 dimensions: {candidates}")
    return np.asarray(state[name])


def write_marked(src: str | os.PathLike[str], dst: str | os.PathLike[str], name: str, weight: np.ndarray) -> None:
    """Copy torch checkpoint ``src`` to ``dst`` (atomically) with parameter ``name`` replaced by ``weight``."""
    import torch

    src = Path(src)
    if src.suffix == ".onnx":
        raise ValueError(f"{src}: marks are inserted into torch checkpoints (.pt); export the ONNX file after")
    state, checkpoint = _torch_checkpoint(src)
    layer(state, name, src)
    state = dict(state)
    state[name] = torch.from_numpy(np.ascontiguousarray(weight)).to(state[name].dtype)
    with atomic_path(dst) as tmp:
        torch.save({**checkpoint, "state": state} if checkpoint is not None else state, tmp)
