"""Attack costs on one CPU core: evaluation real-time factors and training cost per batch (medians).

    taskset -c 0 python benchmarks/attacks.py [--audio FILE] [--seconds 10] [--batch 16] [--repeats 5]

Evaluation: every registered attack at its default and strongest strengths on ``--seconds`` of stereo 44.1 kHz
music (demo-corpus tracks back to back when ``data/corpus`` exists, else synthesized tones); real-time factor =
audio seconds / wall seconds. Training: every training form at its default strength, forward + backward, on a
batch of ``--batch`` × 2 channels × 1 s. torch runs one thread (``taskset`` pins the rest to one core); the first
call is discarded as warm-up. Results also go to ``reports/benchmarks/attacks.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from timing import median_seconds  # benchmarks/timing.py, beside this script

from soundsafe.atomic import write_json
from soundsafe.attacks import apply_attack, apply_training_attack, list_attacks
from soundsafe.audio.io import read_audio

SR = 44100


def load_music(path: Path | None, seconds: float) -> tuple[np.ndarray, str]:
    """``seconds`` of stereo 44.1 kHz music: the given file, else demo-corpus tracks back to back."""
    candidates = [path] if path else sorted(Path("data/corpus/audio").glob("*.wav"))
    parts, used, frames = [], [], int(seconds * SR)
    for candidate in candidates:
        audio, sr = read_audio(candidate)
        if sr == SR and audio.shape[1] == 2:
            parts.append(audio)
            used.append(candidate.name)
        if sum(p.shape[0] for p in parts) >= frames:
            return np.concatenate(parts)[:frames], f"{len(used)} track(s): {', '.join(used)}"
    t = np.arange(int(seconds * SR)) / SR
    tones = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * t))
    return (0.15 * np.stack([tones, np.roll(tones, 100)], axis=1)).astype(np.float32), "synthesized tones"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, help="a 44.1 kHz stereo file (default: first demo-corpus track)")
    parser.add_argument("--seconds", type=float, default=10.0, help="evaluation clip length (default 10)")
    parser.add_argument("--batch", type=int, default=16, help="training batch size (1 s items; default 16)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (default 5)")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/attacks.json"))
    args = parser.parse_args()
    needed = 1 + (args.batch - 1) / 4  # training items are 1 s windows starting every 0.25 s
    if args.seconds < needed:
        parser.error(f"--seconds must be at least {needed:g} for --batch {args.batch}")
    torch.set_num_threads(1)

    audio, source = load_music(args.audio, args.seconds)
    seconds = audio.shape[0] / SR
    rows = []
    print(f"evaluation on {seconds:.0f} s of stereo 44.1 kHz ({source}), one core; real-time factor (×)\n")
    print("| attack | family | default | RTF | strongest | RTF |\n|---|---|---|---:|---|---:|")
    for attack in list_attacks():
        names = dict.fromkeys([attack.default, attack.strength_names[-1]])
        rtf = {s: seconds / median_seconds(lambda n=attack.name, s=s: apply_attack(n, audio, SR, s, seed=1),
                                           args.repeats, warmup=True)
               for s in names}
        strongest = attack.strength_names[-1]
        rows.append({"attack": attack.name, "family": attack.family, "eval_rtf": rtf})
        print(f"| {attack.name} | {attack.family} | {attack.default} | {rtf[attack.default]:.0f} | {strongest} | "
              f"{rtf[strongest]:.0f} |")

    x = torch.from_numpy(np.stack([np.ascontiguousarray(audio[i * SR // 4: i * SR // 4 + SR].T)
                                   for i in range(args.batch)]))
    print(f"\ntraining forms, batch {args.batch} × 2 ch × 1 s, forward + backward, one core (ms per batch)\n")
    print("| attack | mode | ms/batch |\n|---|---|---:|")
    for attack, row in zip(list_attacks(), rows, strict=True):
        if attack.train is None:
            continue

        def step(name: str = attack.name) -> None:
            xi = x.clone().requires_grad_()
            y = apply_training_attack(name, xi, SR, generator=torch.Generator().manual_seed(0))
            y.sum().backward()

        ms = 1000 * median_seconds(step, args.repeats, warmup=True)
        row.update(train_mode=attack.train_mode, train_ms_per_batch=ms)
        print(f"| {attack.name} | {attack.train_mode} | {ms:.0f} |")
    write_json(args.out, {"audio": source, "seconds": seconds, "batch": args.batch, "threads": 1, "rows": rows})
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
