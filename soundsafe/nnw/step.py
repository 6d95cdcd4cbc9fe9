"""The NNW steps: ``nnw_mark`` (t4) marks the fingerprint encoder, ``nnw_evaluate`` (cpu) evaluates the mark.

- mark: the closed-form insertion into ``nnw.layer`` of ``models/fingerprint/model.pt``, then (``finetune_steps``)
  a short fine-tune on the task with the mark's hinge regulariser (to win back what the change cost) and the
  black-box trigger-set hinge (``nnw.blackbox``), then the ONNX and int8 export; ``models/nnw/`` (``model.pt``,
  ``encoder.onnx``, ``encoder.int8.onnx``, ``mark.json``, and ``owner.key`` when the key is the demo one).
- evaluate: MPAI-NNW's three axes (:mod:`soundsafe.nnw.evaluate`); ``reports/nnw/`` (``summary.md``,
  ``robustness.csv``, ``unmarked.csv``, figures).

The key is the file named by ``$SOUNDSAFE_NNW_KEY``, else a demo key derived from ``nnw.key_seed`` (public, so a
demo mark proves nothing; the report says which).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundsafe.atomic import write_text
from soundsafe.manifest import MANIFEST_NAME
from soundsafe.params import section_spec
from soundsafe.steps.context import StepContext

__all__ = ["MarkSpec", "finetune_spec", "run_evaluate", "run_mark"]

MARK_CARD = "mark.json"


@dataclass(frozen=True)
class MarkSpec:
    """``params.yaml: nnw``."""

    layer: str = "body.12.weight"
    margin: float = 1.5
    owner: int = 1
    model_id: int = 1
    key_seed: int = 0
    finetune_steps: int = 0  # the closed form alone is the imperceptible one (README: ownership marks)
    finetune_lr: float = 1e-4
    penalty_weight: float = 1.0
    blackbox: bool = False  # also the trigger-set mark, inserted by the fine-tune
    blackbox_weight: float = 1.0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> MarkSpec:
        spec = section_spec(cls, params, "nnw")
        if spec.blackbox and spec.finetune_steps <= 0:
            raise ValueError("nnw: the black-box mark is inserted by the fine-tune; set nnw.finetune_steps > 0 "
                             "or nnw.blackbox: false")
        return spec


def finetune_spec(train_params: dict[str, Any], steps: int, lr: float) -> Any:
    from soundsafe.fingerprint.train import TrainSpec

    return TrainSpec.from_params({**train_params, "steps": steps, "lr": lr, "schedule": "constant",
                                  "val_every": steps, "patience": 1})


def _set_layer(encoder: Any, name: str, weight: np.ndarray) -> None:
    import torch

    with torch.no_grad():
        dict(encoder.named_parameters())[name].copy_(torch.from_numpy(np.ascontiguousarray(weight)))


def run_mark(ctx: StepContext) -> dict[str, float]:
    from soundsafe.fingerprint.data import export_windows, load_tracks
    from soundsafe.fingerprint.encoders import OnnxEncoder
    from soundsafe.fingerprint.export import export_encoder
    from soundsafe.fingerprint.model import load_encoder, save_encoder
    from soundsafe.fingerprint.train import retrieval_top1, train_encoder
    from soundsafe.nnw import blackbox
    from soundsafe.nnw.evaluate import torch_embed
    from soundsafe.nnw.key import pack_payload, pipeline_key
    from soundsafe.nnw.regularizer import mark_penalty
    from soundsafe.nnw.weights import load_state
    from soundsafe.nnw.whitebox import insert, verify, verify_state

    spec = MarkSpec.from_params(ctx.params["nnw"])
    manifest = ctx.path("data/validated") / MANIFEST_NAME
    out = ctx.path("models/nnw")
    out.mkdir(parents=True, exist_ok=True)
    key, source = pipeline_key(spec.layer, spec.margin, spec.key_seed)
    payload = pack_payload(spec.owner, spec.model_id, key)
    encoder = load_encoder(ctx.path("models/fingerprint/model.pt"))
    val = load_tracks(manifest, ["val"], encoder.config.sample_rate)
    queries = int(ctx.params["fingerprint_train"].get("val_queries", 48))

    def top1(model: Any) -> float:
        return retrieval_top1(model, val, queries, "+0dB", seed=1)

    original = encoder.state_dict()[key.layer].numpy().copy()
    metrics: dict[str, float] = {"payload_bits": float(payload.size), "val_top1_unmarked": top1(encoder)}
    started = time.perf_counter()
    _set_layer(encoder, key.layer, insert(original, key, payload))
    metrics["insert_s"] = time.perf_counter() - started
    metrics["val_top1_inserted"] = top1(encoder)
    if spec.finetune_steps > 0:
        whitebox = mark_penalty(encoder, key, payload, spec.penalty_weight)
        c = encoder.config
        triggers = (blackbox.trigger_penalty(key, payload, c.window_samples, c.sample_rate, c.dim,
                                             spec.blackbox_weight) if spec.blackbox else None)

        def penalty(model: Any) -> Any:
            return whitebox(model) + triggers(model) if triggers is not None else whitebox(model)

        with tempfile.TemporaryDirectory() as tmp:
            tuned = train_encoder(finetune_spec(ctx.params["fingerprint_train"], spec.finetune_steps,
                                                 spec.finetune_lr), encoder.config, manifest, Path(tmp),
                                  log=lambda values, step: ctx.run.log_metrics(
                                      {f"finetune_{k}": v for k, v in values.items()}, step=step),
                                  init=encoder, penalty=penalty)
            encoder = load_encoder(Path(tmp) / "model.pt")
        metrics.update({"finetune_steps": tuned["steps"], "finetune_seconds_per_step": tuned["seconds_per_step"]})
        before = verify(encoder.state_dict()[key.layer].numpy(), key).strength
        metrics["strength_after_finetune"] = before
        # the hinge holds the margin only approximately; a last closed-form step restores it exactly
        tuned_weight = encoder.state_dict()[key.layer].numpy().copy()
        restored = insert(tuned_weight, key, payload)
        metrics["restore_change"] = float(np.linalg.norm(restored - tuned_weight) / np.linalg.norm(tuned_weight))
        _set_layer(encoder, key.layer, restored)
        metrics["val_top1_finetuned"] = top1(encoder)
    final = encoder.state_dict()[key.layer].numpy()
    metrics["relative_change"] = float(np.linalg.norm(final - original) / np.linalg.norm(original))
    card = {"owner": spec.owner, "model_id": spec.model_id, "layer": key.layer, "margin": key.margin,
            "key_source": source, "payload_bits": int(payload.size), "blackbox": spec.blackbox,
            **{k: round(v, 6) for k, v in metrics.items()}}
    save_encoder(out / "model.pt", encoder, nnw={k: card[k] for k in ("owner", "model_id", "layer")})
    if source == "demo":
        key.save(out / "owner.key")
    check, calibration = export_windows(manifest, encoder.config.window_samples, encoder.config.sample_rate)
    metrics.update({f"export_{k}": v for k, v in export_encoder(encoder, out, check, source=out / "model.pt",
                                                                 calibration=calibration).items()})
    for name in ("model.pt", "encoder.onnx", "encoder.int8.onnx"):
        result, _, _ = verify_state(load_state(out / name), key, name)
        stem = name.split(".", 1)[1].replace(".", "_")
        metrics[f"found_{stem}"] = float(result.found)
        metrics[f"tag_errors_{stem}"] = float(result.tag_errors)
        if spec.blackbox:  # through the model's outputs only
            embed = torch_embed(encoder) if name == "model.pt" else OnnxEncoder(out / name)
            read = blackbox.verify(embed, key, encoder.config.window_samples, encoder.config.sample_rate)
            metrics[f"blackbox_found_{stem}"] = float(read.found)
            metrics[f"blackbox_tag_errors_{stem}"] = float(read.tag_errors)
            metrics[f"blackbox_strength_{stem}"] = read.strength
    write_text(out / MARK_CARD, json.dumps({**card, "found": {k: v for k, v in metrics.items()
                                                              if k.startswith("found_")}}, indent=1) + "\n")
    return metrics


def run_evaluate(ctx: StepContext) -> dict[str, float]:
    from soundsafe.nnw.report import evaluate_mark

    card = json.loads((ctx.path("models/nnw") / MARK_CARD).read_text(encoding="utf-8"))
    return evaluate_mark(ctx, card)

