"""Model files: save and load checkpoints atomically, and find the default model.

A file holds ``{"config": ModelConfig as dict, "state": state_dict, ...}``; training checkpoints add the
optimizer, the step and the early-stopping state so a phase resumes after a crash.

The default model (``soundsafe embed/detect`` without ``--model``) is, in order: ``$SOUNDSAFE_MODEL``; the last
pipeline phase's ``models/watermark/realtime/model.pt`` under the current directory; otherwise the untrained
model, which is the plain informed carrier (shaping and reliability weights all 1) and already works.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from soundsafe.atomic import atomic_path
from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.model import WatermarkModel, build_model

__all__ = ["DEFAULT_MODEL_PATH", "ModelFileError", "default_model_path", "load_model", "read_checkpoint",
           "save_checkpoint"]

DEFAULT_MODEL_PATH = Path("models/watermark/realtime/model.pt")


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
    """The model at ``path`` (or the default one) in eval mode, and a description of where it came from."""
    chosen = Path(path) if path is not None else default_model_path()
    if chosen is None:
        return build_model().eval(), "untrained carrier (no trained model found)"
    data = read_checkpoint(chosen)
    model = build_model(ModelConfig.from_dict(data["config"]))
    model.load_state_dict(data["state"])
    return model.eval(), str(chosen)


def default_model_path() -> Path | None:
    env = os.environ.get("SOUNDSAFE_MODEL")
    if env:
        return Path(env)
    return DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.is_file() else None
