"""The fingerprint encoder to ONNX (dynamic batch of windows) and its int8 copy, with a parity check."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from soundsafe.atomic import write_text
from soundsafe.checksum import sha256_file
from soundsafe.fingerprint.encoders import ENCODER_CARD
from soundsafe.fingerprint.model import FingerprintEncoder

__all__ = ["export_encoder"]


def export_encoder(encoder: FingerprintEncoder, folder: Path, check: np.ndarray,
                   source: Path | None = None) -> dict[str, float]:
    """Write ``encoder.onnx``, ``encoder.int8.onnx`` and ``encoder.json`` (config, the SHA-256 of the ``source``
    checkpoint, parity) to ``folder``; compare both graphs with torch on ``check`` windows ``(B, samples)``:
    largest embedding difference and the mean and lowest cosine between the two embeddings."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    encoder = encoder.eval()
    fp32, int8 = folder / "encoder.onnx", folder / "encoder.int8.onnx"
    batch = torch.export.Dim("windows", min=1, max=4096)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # e.g. "torchvision is not installed"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(encoder, (torch.from_numpy(check[:2]),), str(fp32), input_names=["windows"],
                          output_names=["embeddings"], dynamo=True, dynamic_shapes={"x": {0: batch}},
                          opset_version=18, external_data=False, verbose=False)
    logging.getLogger().setLevel(logging.ERROR)
    # the quantizer re-infers shapes and trips over the exporter's recorded intermediate shapes around the Gemm;
    # it needs none of them, so it gets a copy without
    bare = onnx.load(str(fp32))
    del bare.graph.value_info[:]
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(bare, str(Path(tmp) / "bare.onnx"))
        quantize_dynamic(str(Path(tmp) / "bare.onnx"), str(int8), weight_type=QuantType.QInt8)
    with torch.no_grad():
        reference = encoder(torch.from_numpy(check)).numpy()
    metrics: dict[str, float] = {}
    for name, path in (("onnx_fp32", fp32), ("onnx_int8", int8)):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        out = session.run(None, {"windows": check.astype(np.float32)})[0]
        metrics[f"{name}.max_abs_diff"] = float(np.abs(out - reference).max())
        cosine = np.sum(out * reference, axis=1)  # 1: the same direction
        metrics[f"{name}.mean_cosine"], metrics[f"{name}.min_cosine"] = float(cosine.mean()), float(cosine.min())
    card = {"config": encoder.config.to_dict(), "source": str(source) if source else None,
            "source_sha256": sha256_file(source) if source and source.is_file() else None, "parity": metrics}
    write_text(folder / ENCODER_CARD, json.dumps(card, indent=2) + "\n")
    return metrics
