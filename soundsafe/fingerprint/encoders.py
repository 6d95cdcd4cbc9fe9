"""Which fingerprint encoder a command uses, and the ONNX one that runs without torch.

An encoder is anything with a ``config`` (:class:`FingerprintConfig`) that turns windows ``(B, samples)`` into
unit embeddings ``(B, dim)``: the torch :class:`~soundsafe.fingerprint.model.FingerprintEncoder` or
:class:`OnnxEncoder` (``encoder.onnx`` + ``encoder.json``, on ONNX Runtime). The default, when ``--model`` is not
given, is the pipeline's (``models/fingerprint/``: its ONNX export when the card says it was exported from the
current ``model.pt``, else ``model.pt``), else the release encoder shipped in ``soundsafe/models/fingerprint``.
Each encoder has an id (the SHA-256 prefix of the checkpoint it came from) that an index records, so a query
is never embedded by another encoder than the catalog's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundsafe.checksum import sha256_file
from soundsafe.fingerprint.config import FingerprintConfig

__all__ = ["ENCODER_CARD", "PIPELINE_DIR", "RELEASE_DIR", "EncoderChoice", "OnnxEncoder", "choose_encoder",
           "encoder_id", "load_any_encoder"]

PIPELINE_DIR = Path("models/fingerprint")
RELEASE_DIR = Path(__file__).resolve().parents[1] / "models" / "fingerprint"
ENCODER_CARD = "encoder.json"  # beside encoder.onnx: config, source checkpoint hash, parity figures


class OnnxEncoder:
    """``encoder.onnx`` on ONNX Runtime (CPU, ``threads`` intra-op threads; 0: its choice)."""

    def __init__(self, path: str | os.PathLike[str], threads: int = 0) -> None:
        import onnxruntime as ort

        path = Path(path)
        card_path = path.with_name(ENCODER_CARD)
        if not card_path.is_file():
            raise FileNotFoundError(f"{card_path}: missing (the encoder's config; written by fingerprint_train)")
        card = json.loads(card_path.read_text(encoding="utf-8"))
        self.config = FingerprintConfig.from_dict(card["config"])
        self.id = str(card.get("source_sha256") or "")[:12]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"windows": np.ascontiguousarray(windows, np.float32)})[0]


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder file a command uses and where the choice came from (``--model``, pipeline, release)."""

    path: Path
    source: str


def _onnx_if_current(folder: Path) -> Path | None:
    """``encoder.onnx`` when its card says it was exported from the ``model.pt`` beside it (or there is none)."""
    onnx, card, torch_path = folder / "encoder.onnx", folder / ENCODER_CARD, folder / "model.pt"
    if not (onnx.is_file() and card.is_file()):
        return None
    if torch_path.is_file() and json.loads(card.read_text(encoding="utf-8")).get("source_sha256") != sha256_file(
            torch_path):
        return None
    return onnx


def choose_encoder(model: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] | None = None
                   ) -> EncoderChoice:
    """The encoder for ``model`` (a checkpoint, ``encoder.onnx`` or a folder holding them), or the default."""
    if model is not None:
        path = Path(model)
        if path.is_dir():
            path = _onnx_if_current(path) or (path / "model.pt")
        if not path.is_file():
            raise FileNotFoundError(f"{model}: no fingerprint model here (a model.pt, an encoder.onnx with its "
                                    f"{ENCODER_CARD}, or a folder holding them)")
        return EncoderChoice(path, "--model")
    pipeline = Path(root) / PIPELINE_DIR if root is not None else PIPELINE_DIR
    for folder, source in ((pipeline, "pipeline"), (RELEASE_DIR, "release")):
        onnx = _onnx_if_current(folder)
        if onnx is not None:
            return EncoderChoice(onnx, source)
        if (folder / "model.pt").is_file():
            return EncoderChoice(folder / "model.pt", source)
    raise FileNotFoundError(f"no fingerprint model found: none in {pipeline} and no release encoder in "
                            f"{RELEASE_DIR}; train one (`soundsafe step fingerprint_train`) or pass --model")


def load_any_encoder(choice: EncoderChoice, threads: int = 0) -> Any:
    """The encoder of ``choice``: :class:`OnnxEncoder` for ``.onnx`` (no torch), else the torch module."""
    if choice.path.suffix == ".onnx":
        return OnnxEncoder(choice.path, threads=threads)
    from soundsafe.fingerprint.model import load_encoder

    return load_encoder(choice.path)


def encoder_id(encoder: Any) -> str:
    """The id an index records for the encoder that built it ('' when unknown)."""
    return str(getattr(encoder, "id", "") or "")
