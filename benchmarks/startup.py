"""Start-up benchmark: wall time of whole `soundsafe` processes, as a user or a delivery pipeline runs them.

Measures (median of ``--repeats`` runs, pinned to one core with ``taskset -c 0`` when it exists):

- ``soundsafe --help``;
- ``soundsafe detect clip.wav --quiet`` on a 3 s marked WAV with the default model (the shipped release model's
  ONNX export, so no torch);
- ``soundsafe fingerprint identify query.wav`` of a 5 s excerpt against a 2 h index: the catalog's own windows
  plus random unit vectors up to 2 h of 0.25 s windows (28,800; exact search costs the same for any vectors).

    python benchmarks/startup.py                 # a table; --json for machine-readable figures
    python benchmarks/startup.py --repeats 9 --wm-model models/onnx --fp-model models/fingerprint/model.pt

Each command runs in a scratch folder (no pipeline models there, so the defaults are the release models unless
``--wm-model``/``--fp-model`` say otherwise). Targets (issue 17): help ≤ 0.3 s, detect ≤ 0.8 s, identify ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS_S = {"help": 0.3, "detect_3s": 0.8, "identify_5s_2h": 0.5}


def _soundsafe() -> list[str]:
    script = Path(sys.executable).with_name("soundsafe")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "soundsafe"]


def _pin() -> list[str]:
    return ["taskset", "-c", "0"] if shutil.which("taskset") else []


def _wall(argv: list[str], cwd: Path, repeats: int, ok: tuple[int, ...], env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(repeats + 1):  # the first run warms the page cache and is dropped
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - started)
        if done.returncode not in ok:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return times[1:]


def _prepare(folder: Path, wm_model: str | None, fp_model: str | None) -> None:
    """A 3 s marked clip, a 5 s query and a 2 h fingerprint index in ``folder``."""
    from soundsafe.audio.io import read_audio, resample, write_wav
    from soundsafe.corpus.build import build_demo_corpus
    from soundsafe.fingerprint.data import Track
    from soundsafe.fingerprint.encoders import choose_encoder, load_any_encoder
    from soundsafe.fingerprint.index import FingerprintIndex
    from soundsafe.watermark.api import embed

    corpus = folder / "corpus"
    build_demo_corpus(corpus, tracks=2, seconds=12.0, sample_rate=44100, seed=3,
                      splits={"train": 1.0, "val": 0.0, "test": 0.0}, workers=1)
    paths = sorted((corpus / "audio").glob("*.wav"))
    audio, sr = read_audio(paths[0])
    record = json.loads((Path(__file__).resolve().parents[1] / "tests/data/sample_meta.json").read_text())
    marked = embed(audio, sr, record, model=wm_model)
    write_wav(folder / "clip.wav", marked[: 3 * sr], sr)  # the first 3 s: the core (ISRC) opens the schedule
    write_wav(folder / "query.wav", audio[3 * sr: 8 * sr], sr)
    encoder = load_any_encoder(choose_encoder(fp_model))
    rate = encoder.config.sample_rate
    tracks = [Track(p.stem, p.stem, "", resample(read_audio(p)[0], 44100, rate).mean(axis=1)) for p in paths]
    index = FingerprintIndex.build(encoder, tracks, hop_s=0.25)
    fill = 2 * 3600 * 4 - index.windows  # 2 h of 0.25 s windows
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((fill, index.index.d)).astype(np.float32)
    index.index.add(noise / np.linalg.norm(noise, axis=1, keepdims=True))
    index.window_track = np.concatenate([index.window_track, np.full(fill, len(tracks), np.int32)])
    index.window_offset = np.concatenate([index.window_offset, np.arange(fill, dtype=np.float32) * 0.25])
    index.tracks.append({"track": "distractors", "title": "random unit vectors", "isrc": ""})
    index.save(folder / "index")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (median; default 5)")
    parser.add_argument("--wm-model", help="watermark model for detect (default: what `soundsafe detect` picks)")
    parser.add_argument("--fp-model", help="fingerprint encoder (default: what `fingerprint identify` picks)")
    parser.add_argument("--code", type=Path, help="time the soundsafe package in this source folder instead (e.g. a "
                                                  "checkout of an older commit, for before/after figures)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "SOUNDSAFE_MODEL"}
    if args.code:
        env["PYTHONPATH"] = str(args.code.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _prepare(folder, args.wm_model, args.fp_model)
        cli = _pin() + _soundsafe()
        wm = ["--model", str(Path(args.wm_model).resolve())] if args.wm_model else []
        fp = ["--model", str(Path(args.fp_model).resolve())] if args.fp_model else []
        runs = {
            "help": _wall([*cli, "--help"], folder, args.repeats, (0,), env),
            "detect_3s": _wall([*cli, "detect", "clip.wav", *([] if args.code else ["--quiet"]), *wm], folder,
                               args.repeats, (0, 1, 3), env),
            "identify_5s_2h": _wall([*cli, "fingerprint", "identify", "query.wav", "--index", "index", *fp], folder,
                                    args.repeats, (0, 1), env),
        }
    medians = {name: round(statistics.median(times), 3) for name, times in runs.items()}
    if args.json:
        print(json.dumps({"median_s": medians, "runs_s": runs, "targets_s": TARGETS_S, "pinned": bool(_pin())}))
        return 0
    print(f"| command | median wall (s), {args.repeats} runs{', one core' if _pin() else ''} | target |")
    print("|---|---:|---:|")
    for name, value in medians.items():
        print(f"| {name} | {value:.3f} | ≤ {TARGETS_S[name]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
