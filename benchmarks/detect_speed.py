"""Detection time on one core, with and without the speed search (issue 19: a 3 s excerpt in ≤ 0.3 s, detect
with the speed search ≥ 50× real time).

    taskset -c 0 python benchmarks/detect_speed.py [--model models/onnx] [--audio song.wav] [--repeats 5]

Marks ``--audio`` (default: 60 s rendered from the demo corpus's scores) with a demo record, then times
``detect`` on excerpts of 3, 10 and 60 s (ONNX Runtime with one intra-op thread, or torch with one thread),
clean and after a 2 % speed-up read with ``speed_search=True``. Prints medians over ``--repeats`` and the
real-time factors, and says whether each read found the ISRC.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def _audio(path: Path | None, seconds: float) -> tuple[np.ndarray, int]:
    from soundsafe.audio.io import read_audio

    if path is not None:
        audio, sr = read_audio(path)
        return audio[: int(seconds * sr)], sr
    import tempfile

    from soundsafe.corpus.build import build_demo_corpus
    from soundsafe.manifest import MANIFEST_NAME, audio_path, read_manifest

    out = Path(tempfile.mkdtemp()) / "corpus"
    build_demo_corpus(out, tracks=2, seconds=seconds / 2, sample_rate=44100, seed=3, splits={"train": 1.0},
                      workers=1)
    manifest = out / MANIFEST_NAME
    return np.concatenate([read_audio(audio_path(manifest, p))[0] for p in read_manifest(manifest)["path"]]), 44100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="ONNX folder, checkpoint or 'carrier' (default: the "
                                                      "pipeline's model, else the release model)")
    parser.add_argument("--audio", type=Path, help="audio file to mark (default: 60 s of demo music)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from soundsafe.attacks import apply_attack
    from soundsafe.evaluation.systems import same_isrc
    from soundsafe.payload.keys import PayloadKey
    from soundsafe.watermark.api import detect, embed
    from soundsafe.watermark.engine import load_engine

    engine = load_engine(args.model, threads=1)
    key = PayloadKey(b"detect-speed-benchmark-key-01234")
    audio, sr = _audio(args.audio, 60.0)
    record = json.loads((Path(__file__).resolve().parents[1] / "tests/data/sample_meta.json").read_text())
    marked = embed(audio, sr, record, key, engine)
    fast = apply_attack("speed", marked, sr, "+2%")
    print(f"model: {engine.origin}")
    print("| input | speed search | median s | × real time | ISRC read |")
    print("|---|---|---:|---:|---|")
    for seconds in (3.0, 10.0, 60.0):
        for name, source, search in (("clean", marked, False), ("clean", marked, True), ("speed +2 %", fast, True)):
            start = max(0, (source.shape[0] - int(seconds * sr)) // 2)
            clip = source[start: start + int(seconds * sr)]
            times, found = [], None
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                found = detect(clip, sr, key, engine, speed_search=search)
                times.append(time.perf_counter() - t0)
            median = statistics.median(times)
            read = found is not None and same_isrc(found.result.fields.get("isrc"), record["isrc"])
            print(f"| {seconds:g} s {name} | {'yes' if search else 'no'} | {median:.3f} | "
                  f"{clip.shape[0] / sr / median:.1f} | {'yes' if read else 'no'} |")


if __name__ == "__main__":
    main()
