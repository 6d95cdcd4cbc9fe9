"""Why the ONNX Runtime embedder is slower than torch: its DFT kernel, timed against torch and NumPy.

    taskset -c 0 python benchmarks/onnx_dft.py

The embedder does 5 forward and 4 inverse 2048-point real transforms of 101 frames per 1 s chunk (four
closed-loop passes); this times one such transform on one thread in each runtime (median of 50). SciPy's is
what the default ONNX engine uses around its spectral graphs (``soundsafe/watermark/host_spectral.py``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import scipy.fft
import torch


class _Rfft(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.view_as_real(torch.fft.rfft(x, dim=-1))


def _median_ms(work, repeats: int = 50) -> float:
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    frames = torch.randn(101, 2048)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "rfft.onnx"
        torch.onnx.export(_Rfft(), (frames,), str(path), dynamo=True, verbose=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        x = frames.numpy()
        name = session.get_inputs()[0].name
        results = {"onnxruntime DFT": _median_ms(lambda: session.run(None, {name: x})),
                   "torch.fft.rfft": _median_ms(lambda: torch.fft.rfft(frames, dim=-1)),
                   "numpy.fft.rfft": _median_ms(lambda: np.fft.rfft(x, axis=-1)),
                   "scipy.fft.rfft": _median_ms(lambda: scipy.fft.rfft(x, axis=-1, workers=1))}
    print("101 × 2048-point rfft, one thread, median ms:")
    for runtime, ms in results.items():
        print(f"  {runtime:18s} {ms:7.3f}  ({ms / results['torch.fft.rfft']:.1f}× torch)")


if __name__ == "__main__":
    main()
