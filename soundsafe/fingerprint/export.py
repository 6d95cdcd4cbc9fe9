"""The fingerprint encoder to ONNX (dynamic batch of windows) and its int8 copy, with a parity check.

The int8 copy is *static* QDQ quantization calibrated on real windows, per-channel weights, of the convolutions
after the first and the projection only. Dynamic quantization (the first version) also quantized the mel
``MatMul``, whose input is a power spectrum spanning ~100 dB, at run time to 8 bits per tensor: its embeddings
had a mean cosine of 0.61 to fp32 on real music (release card of 2026-12-02). The front end (DFT, power, mel,
log) and the first convolution stay fp32.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from soundsafe.atomic import write_text
from soundsafe.checksum import sha256_file
from soundsafe.fingerprint.encoders import ENCODER_CARD
from soundsafe.fingerprint.model import FingerprintEncoder

__all__ = ["export_encoder"]


_QUANTIZED_OPS = ["Conv", "Gemm"]  # the learned layers; the fp32 front end keeps the spectrum's range
_TIMING_WINDOWS = 64


class _Calibration:
    """Windows for ONNX Runtime's calibration, a batch of 16 at a time (its ``CalibrationDataReader``)."""

    def __init__(self, windows: np.ndarray) -> None:
        self._batches = iter([windows[i: i + 16] for i in range(0, len(windows), 16)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {"windows": np.ascontiguousarray(batch, np.float32)}


def _quantize(bare: Path, int8: Path, calibration: np.ndarray) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    # the first convolution reads the log-mel itself: quantized, its input alone cost the embeddings a mean
    # cosine of 0.986 (lowest 0.78) to fp32 on real val windows; without it 0.9995 (lowest 0.998)
    first_conv = next(n.name for n in onnx.load(str(bare)).graph.node if n.op_type == "Conv")
    quantize_static(str(bare), str(int8), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=_QUANTIZED_OPS, nodes_to_exclude=[first_conv], per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})


def _ms_per_window(session: object, windows: np.ndarray) -> float:
    """Median of 5 runs of a batch, per window (ONNX Runtime, the session's threads)."""
    times = []
    for _ in range(6):
        started = time.perf_counter()
        session.run(None, {"windows": windows})  # type: ignore[attr-defined]
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times[1:])) / len(windows)


def export_encoder(encoder: FingerprintEncoder, folder: Path, check: np.ndarray,
                   source: Path | None = None, calibration: np.ndarray | None = None) -> dict[str, float]:
    """Write ``encoder.onnx``, ``encoder.int8.onnx`` and ``encoder.json`` (config, the SHA-256 of the ``source``
    checkpoint, parity) to ``folder``; compare both graphs with torch on ``check`` windows ``(B, samples)``:
    largest embedding difference and the mean and lowest cosine between the two embeddings, and their time per
    window on one thread. The int8 graph is calibrated on ``calibration`` windows (default ``check``; pass other
    windows of the same kind, or the parity is measured on what it was calibrated on)."""
    import onnx
    import onnxruntime as ort

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
        _quantize(Path(tmp) / "bare.onnx", int8, check if calibration is None else calibration)
    with torch.no_grad():
        reference = encoder(torch.from_numpy(check)).numpy()
    metrics: dict[str, float] = {}
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    timing = np.ascontiguousarray(np.resize(check, (_TIMING_WINDOWS, check.shape[1])), np.float32)
    for name, path in (("onnx_fp32", fp32), ("onnx_int8", int8)):
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        out = session.run(None, {"windows": check.astype(np.float32)})[0]
        metrics[f"{name}.ms_per_window_1thread"] = _ms_per_window(session, timing)
        metrics[f"{name}.max_abs_diff"] = float(np.abs(out - reference).max())
        cosine = np.sum(out * reference, axis=1)  # 1: the same direction
        metrics[f"{name}.mean_cosine"], metrics[f"{name}.min_cosine"] = float(cosine.mean()), float(cosine.min())
    card = {"config": encoder.config.to_dict(), "source": str(source) if source else None,
            "source_sha256": sha256_file(source) if source and source.is_file() else None, "parity": metrics}
    write_text(folder / ENCODER_CARD, json.dumps(card, indent=2) + "\n")
    return metrics
