"""Which watermark model a command uses, and why: ``--model``, ``$SOUNDSAFE_MODEL``, the pipeline's, the release's.

In order:

1. the ``model`` argument (``--model``): a torch checkpoint, an ONNX export folder or one of its ``.onnx`` files,
   or the name ``carrier`` (the untrained informed carrier, only ever used when asked for by name);
2. ``$SOUNDSAFE_MODEL``, read the same way;
3. the pipeline's own model under the working directory: the ONNX export ``models/onnx`` when it was exported
   from the current ``models/watermark/realtime/model.pt`` (its card records the checkpoint's SHA-256), else
   that checkpoint;
4. the release model that ships inside the package (``soundsafe/models/watermark``: a torch checkpoint, its ONNX
   export and a model card saying what data, profile and steps made it and what it measured).

When none of these exists the command says so (:class:`ModelNotFoundError`) instead of quietly marking audio
with something else. Nothing here imports torch: the ONNX path starts fast.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundsafe.checksum import sha256_file

__all__ = ["CARRIER", "PIPELINE_ONNX", "PIPELINE_TORCH", "RELEASE_DIR", "ModelChoice", "ModelNotFoundError",
           "choose_model"]

CARRIER = "carrier"
PIPELINE_TORCH = Path("models/watermark/realtime/model.pt")
PIPELINE_ONNX = Path("models/onnx")
RELEASE_DIR = Path(__file__).resolve().parents[1] / "models" / "watermark"
_CARD = "card.json"


class ModelNotFoundError(FileNotFoundError):
    """No watermark model could be found (or the one named does not exist)."""


@dataclass(frozen=True)
class ModelChoice:
    """The model a command will use: its files, where the choice came from, and its model-card id.

    ``onnx`` is an export folder or one ``.onnx`` file, ``torch`` a checkpoint; a choice has at least one of
    them, except the carrier, which has neither."""

    source: str  # "--model", "$SOUNDSAFE_MODEL", "pipeline", "release" or "carrier"
    onnx: Path | None = None
    torch: Path | None = None
    card_id: str | None = None

    @property
    def is_carrier(self) -> bool:
        return self.source == CARRIER

    @property
    def path(self) -> Path | None:
        """The file or folder an engine loads (ONNX first: no torch, faster)."""
        return self.onnx or self.torch

    def describe(self) -> str:
        if self.is_carrier:
            return "the untrained informed carrier (asked for by name: --model carrier)"
        card = f", model card {self.card_id}" if self.card_id else ""
        return f"{self.path} ({self.source}{card})"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "source": self.source, "card_id": self.card_id}


def _named(value: str | os.PathLike[str], source: str) -> ModelChoice:
    if str(value) == CARRIER:
        return ModelChoice(CARRIER)
    path = Path(value)
    if not path.exists():
        raise ModelNotFoundError(f"{path}: no watermark model here ({source}); give a checkpoint (model.pt), an "
                                 f"ONNX export folder, or `--model {CARRIER}` for the untrained carrier")
    if path.is_dir() or path.suffix == ".onnx":
        card = _release_card(path if path.is_dir() else path.parent)
        return ModelChoice(source, onnx=path, card_id=card)
    return ModelChoice(source, torch=path, card_id=_release_card(path.parent))


def _release_card(folder: Path) -> str | None:
    """The card id when ``folder`` (or its parent: the ONNX folder of a release) holds a model card."""
    for candidate in (folder / _CARD, folder.parent / _CARD):
        if candidate.is_file():
            return str(json.loads(candidate.read_text(encoding="utf-8")).get("id"))
    return None


def _pipeline(root: Path) -> ModelChoice | None:
    torch_path, onnx_dir = root / PIPELINE_TORCH, root / PIPELINE_ONNX
    onnx_card = onnx_dir / "model.json"
    if not torch_path.is_file():
        return ModelChoice("pipeline", onnx=onnx_dir, card_id="pipeline") if onnx_card.is_file() else None
    sha = sha256_file(torch_path)
    card_id = f"pipeline-{sha[:12]}"
    if onnx_card.is_file() and json.loads(onnx_card.read_text(encoding="utf-8")).get("source_sha256") == sha:
        return ModelChoice("pipeline", onnx=onnx_dir, torch=torch_path, card_id=card_id)
    return ModelChoice("pipeline", torch=torch_path, card_id=card_id)  # export missing or stale: the checkpoint


def _release() -> ModelChoice | None:
    card = RELEASE_DIR / _CARD
    if not card.is_file():
        return None
    onnx_dir, torch_path = RELEASE_DIR / "onnx", RELEASE_DIR / "model.pt"
    return ModelChoice("release", onnx=onnx_dir if (onnx_dir / "model.json").is_file() else None,
                       torch=torch_path if torch_path.is_file() else None,
                       card_id=str(json.loads(card.read_text(encoding="utf-8"))["id"]))


def choose_model(model: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] | None = None
                 ) -> ModelChoice:
    """The model to use for ``model`` (a ``--model`` value or None), looking for the pipeline's under ``root``
    (default: the working directory). Raises :class:`ModelNotFoundError` when there is none."""
    if model is not None:
        return _named(model, "--model")
    env = os.environ.get("SOUNDSAFE_MODEL")
    if env:
        return _named(env, "$SOUNDSAFE_MODEL")
    choice = _pipeline(Path(root) if root is not None else Path()) or _release()
    if choice is None:
        raise ModelNotFoundError(
            f"no watermark model found: no pipeline model ({PIPELINE_TORCH}) under {Path(root or '.').resolve()} "
            f"and no release model in {RELEASE_DIR}. Train one (`make pipeline`), pass --model PATH "
            f"(or set $SOUNDSAFE_MODEL), or use `--model {CARRIER}` for the untrained carrier")
    return choice
