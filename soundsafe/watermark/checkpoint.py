"""Model files: save and load checkpoints atomically, and find the default model.

A file holds ``{"config": ModelConfig as dict, "state": state_dict, ...}``; training checkpoints add the
optimizer, the step and the early-stopping state so a phase resumes after a crash.

Which model is used when none is named (``$SOUNDSAFE_MODEL``, the pipeline's, the shipped release model) is
decided in :mod:`soundsafe.watermark.default_model`; the untrained carrier is only used when asked for by name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from soundsafe.atomic import atomic_path
from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.model import WatermarkModel, build_model

__all__ = ["ModelFileError", "load_model", "read_checkpoint", "save_checkpoint"]


class ModelFileError(ValueError):
    """A model file is missing or is not a SoundSafe model."""


def save_checkpoint(path: str | os.PathLike[str], model: WatermarkModel, **extra: Any) -> None:
    """Write model config, weights and ``extra`` (optimizer state, step, …) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save({"config": model.config.to_dict(), "state": model.state_dict(), **extra}, tmp)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found (train one with `make pipeline`, or omit --model)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for a corrupt file
        raise ModelFileError(f"{path}: not a readable model file ({exc})") from None
    if not isinstance(data, dict) or "config" not in data or "state" not in data:
        raise ModelFileError(f"{path}: not a SoundSafe watermark model (no config/state)")
    return data


def load_model(path: str | os.PathLike[str] | None = None) -> tuple[WatermarkModel, str]:
    """The torch model at ``path`` (or the default one; ``"carrier"``: the untrained carrier) in eval mode, and a
    description of where it came from."""
    from soundsafe.watermark.default_model import choose_model

    choice = choose_model(path)
    if choice.is_carrier:
        return build_model().eval(), choice.describe()
    if choice.torch is None:
        raise ModelFileError(f"{choice.path}: an ONNX export; this needs the torch checkpoint (model.pt)")
    data = read_checkpoint(choice.torch)
    model = build_model(ModelConfig.from_dict(data["config"]))
    model.load_state_dict(data["state"])
    return model.eval(), str(choice.torch)
