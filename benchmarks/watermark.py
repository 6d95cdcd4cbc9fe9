"""Watermark targets on the demo corpus's test split (issue 5): payload rate, SNR, NMR, bit accuracy, ISRC reads.

    taskset -c 0 python benchmarks/watermark.py [--model M] [--manifest data/validated/manifest.parquet]
                                                [--excerpts 3,8,12] [--tries 20]

- Bit accuracy: every full 1 s chunk of every test track carries packet bits of the track's own record; read at
  the known chunk grid clean and after real MP3 128 kbps, AAC 128 kbps and white noise at 20 dB SNR.
- SNR and NMR (project psychoacoustic model) of the mark, per track, mean.
- ISRC reads: ``--tries`` random excerpts of each length from marked tracks after MP3 128 kbps, decoded with the
  full detector (grid search, payload decoder); and the same on unmarked excerpts for false reads.
- Speed: embed and detect real-time factors on one core (torch threads = 1), and the model's parameter count.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from soundsafe.attacks import apply_attack
from soundsafe.attacks.noise import snr_db
from soundsafe.audio.io import read_audio
from soundsafe.manifest import audio_path, read_manifest
from soundsafe.payload.keys import PayloadKey
from soundsafe.payload.packets import CodeSettings, encode_payload
from soundsafe.watermark.api import detect, embed
from soundsafe.watermark.checkpoint import load_model
from soundsafe.watermark.psychoacoustic import PsychoacousticModel, noise_to_mask_ratio

ATTACKS = (("clean", None), ("mp3", "128k"), ("aac", "128k"), ("white_noise", "20dB"))


def chunk_accuracy(model, audio: np.ndarray, bits: np.ndarray, seed: int) -> float:
    n = model.config.chunk_samples
    chunks = min(audio.shape[0] // n, len(bits))
    mono = torch.from_numpy(audio[: chunks * n].mean(axis=1).reshape(chunks, n).astype(np.float32))
    with torch.no_grad():
        read = (model.llr(mono, seed) > 0).numpy()
    return float((read == bits[:chunks].astype(bool)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model file (default: the pipeline's last trained model)")
    parser.add_argument("--manifest", type=Path, default=Path("data/validated/manifest.parquet"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--excerpts", default="3,8,12", help="excerpt lengths in seconds for ISRC reads")
    parser.add_argument("--tries", type=int, default=20, help="excerpts per length (default 20)")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/watermark.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    model, origin = load_model(args.model)
    c = model.config
    key = PayloadKey(b"benchmark-key-0123456789abcdef!!")
    settings = CodeSettings(packet_bits=c.bits)
    df = read_manifest(args.manifest)
    rows = df[df["split"] == args.split]
    psycho = PsychoacousticModel(sample_rate=c.sample_rate)
    acc = {a: [] for a in ATTACKS}
    snrs, nmrs, marked_tracks, unmarked_tracks = [], [], [], []
    embed_s = detect_s = audio_s = 0.0
    for _, row in rows.iterrows():
        audio, sr = read_audio(audio_path(args.manifest, row["path"]))
        record = json.loads(row["metadata"])
        t0 = time.perf_counter()
        marked = embed(audio, sr, record, key, model)
        embed_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        detect(marked, sr, key, model)
        detect_s += time.perf_counter() - t0
        audio_s += audio.shape[0] / sr
        snrs.append(snr_db(audio, marked))
        mark = torch.from_numpy((marked - audio).mean(axis=1)[None].astype(np.float64))
        nmrs.append(float(noise_to_mask_ratio(torch.from_numpy(audio.mean(axis=1)[None].astype(np.float64)), mark,
                                              psycho)[0]))
        bits = encode_payload(record, key, settings).chunk_bits(audio.shape[0] // c.chunk_samples)
        for name, strength in ATTACKS:
            attacked = marked if name == "clean" else apply_attack(name, marked, sr, strength, seed=1)
            acc[(name, strength)].append(chunk_accuracy(model, attacked, bits, key.carrier_seed))
        marked_tracks.append((apply_attack("mp3", marked, sr, "128k"), sr, record["isrc"]))
        unmarked_tracks.append((audio, sr))

    rng = np.random.default_rng(0)
    reads = {}
    for seconds in [float(s) for s in args.excerpts.split(",")]:
        hits = false = tries = 0
        for _ in range(args.tries):
            i = int(rng.integers(len(marked_tracks)))
            audio, sr, isrc = marked_tracks[i]
            n = int(seconds * sr)
            if audio.shape[0] <= n:
                continue
            start = int(rng.integers(0, audio.shape[0] - n))
            tries += 1
            found = detect(audio[start: start + n], sr, key, model).result.fields.get("isrc")
            hits += found is not None and found.replace("-", "") == isrc.replace("-", "")
            clean_audio, _ = unmarked_tracks[i]
            false += bool(detect(clean_audio[start: start + n], sr, key, model).result.fields)
        reads[seconds] = {"tries": tries, "isrc_read": hits / max(tries, 1), "false_reads": false}

    result = {
        "model": origin, "parameters": model.parameter_count(), "tracks": len(rows), "audio_seconds": audio_s,
        "payload_bits_per_second": c.bits_per_second,
        "snr_db_mean": float(np.mean(snrs)), "nmr_db_mean": float(np.mean(nmrs)),
        "bit_accuracy": {f"{a} {s or ''}".strip(): float(np.mean(v)) for (a, s), v in acc.items()},
        "isrc_after_mp3_128k": {str(k): v for k, v in reads.items()},
        "embed_realtime_factor_1_core": audio_s / embed_s, "detect_realtime_factor_1_core": audio_s / detect_s,
    }
    from soundsafe.atomic import write_json

    write_json(args.out, result)
    print(f"model: {origin} ({result['parameters']} parameters); {len(rows)} {args.split} tracks, {audio_s:.0f} s")
    print("| figure | measured |\n|---|---|")
    print(f"| payload | {c.bits_per_second:.0f} bits/s |")
    print(f"| SNR (mean) | {result['snr_db_mean']:.1f} dB |\n| NMR (mean) | {result['nmr_db_mean']:.1f} dB |")
    for name, value in result["bit_accuracy"].items():
        print(f"| bit accuracy, {name} | {100 * value:.1f} % |")
    for seconds, r in reads.items():
        print(f"| ISRC from {seconds:g} s after MP3 128k | {100 * r['isrc_read']:.0f} % of {r['tries']} "
              f"(false reads on unmarked: {r['false_reads']}) |")
    print(f"| embed / detect, one core | {result['embed_realtime_factor_1_core']:.0f}× / "
          f"{result['detect_realtime_factor_1_core']:.0f}× real time |")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
