"""Fingerprint search at catalogue scale: IVF-PQ against exact search, and a simulated 10,000 h catalogue.

Issue 20 asks for a 5 s query answered in ≤ 50 ms in-process at 10,000 h of catalogue (144 M windows at 0.25 s
hops), with the Top-1 lost to compression measured against exact search (≤ 2 points) and the index size per hour.
Nobody has 10,000 h of real music here, so the benchmark builds the big index from the real one:

1. the real catalogue (every track of the corpus manifest) is embedded once;
2. queries: random audible excerpts of the ``--splits`` tracks (never trained on) through the real ``concert``
   chain at ``--snr`` and a phone upload (16 kHz AAC 64k / Opus 32k in turn), as ``fingerprint_evaluate`` makes
   them;
3. **exact** (``IndexFlatIP``) and **IVF-PQ** (``nlist`` lists, ``m`` sub-quantizers of ``nbits``, trained on the real
   vectors plus perturbed copies of them, as many as k-means wants) over the real catalogue: the difference in
   Top-1 is what compression costs;
4. **scale**: the IVF-PQ index is filled up to ``--hours`` with synthetic windows. Each list gets as many
   synthetic entries as its share of the real ones says, each entry's code assembled from the sub-codes of
   random real entries of the same list (so codes sit where music sits and every probed list is as long as a
   real catalogue's would be: the scan costs what it would). The synthetic windows form synthetic tracks of
   ``--track-s`` seconds whose neighbouring windows are unrelated, so they add scan cost and chance hits but
   not time-consistent lookalikes: the Top-1 at scale is an upper bound on what a real 10,000 h catalogue would
   give, the latency is what it would cost. The rescoring copy (``--rescore-m`` bytes a window, as
   ``fingerprint_index`` builds it) gets each synthetic window's decoded search code, encoded again, so both
   copies of a window agree as they would in a real index.

Latency is in-process and one-threaded (FAISS and the encoder on one thread), a query's whole ``rank`` (embed +
search + votes + rescoring), with the embedding alone beside it; medians over the queries, per ``--nprobe``.

    python benchmarks/fingerprint_scale.py                       # 10,000 h, nlist 4096, the pipeline's encoder
    python benchmarks/fingerprint_scale.py --hours 100 --queries 20 --nprobe 8 16   # a quick look

Writes ``--out``/``scale.json`` and ``scale.md`` (atomically) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from soundsafe.atomic import atomic_path
from soundsafe.fingerprint.index import NEIGHBOURS, RESCORE

HOP_S = 0.25


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", default="data/validated/manifest.parquet",
                   help="corpus manifest: every track is in the catalogue (default: %(default)s)")
    p.add_argument("--splits", nargs="+", default=["test"], help="splits the queries come from (default: test)")
    p.add_argument("--model", default=None, help="fingerprint encoder (default: the pipeline's, else the release's)")
    p.add_argument("--hours", type=float, default=10_000.0, help="simulated catalogue size (default: %(default)s)")
    p.add_argument("--nlist", type=int, default=4096, help="IVF lists (default: %(default)s)")
    p.add_argument("--m", type=int, default=32, help="PQ sub-quantizers (default: %(default)s)")
    p.add_argument("--nbits", type=int, default=4, choices=[4, 8],
                   help="bits per sub-quantizer: 4 = FAISS fast-scan, 8 = classic IVF-PQ (default: %(default)s)")
    p.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32], help="lists probed (default: 8 16 32)")
    p.add_argument("--neighbours", type=int, nargs="+", default=[32, 128],
                   help="catalogue windows each query window retrieves, at scale (default: 32 128; 32 is rank's)")
    p.add_argument("--rescore", type=int, nargs="+", default=[RESCORE],
                   help="(track, alignment) candidates scored on the whole query, at scale (default: %(default)s, "
                        "rank's)")
    p.add_argument("--rescore-m", type=int, default=32,
                   help="bytes of the rescoring copy of each window, as fingerprint_index's rescore_m (0: rescore "
                        "from the search codes; default: %(default)s)")
    p.add_argument("--queries", type=int, default=42, help="queries (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=5.0, help="query length (default: %(default)s)")
    p.add_argument("--snr", type=int, default=0, help="crowd SNR of the queries, dB (default: %(default)s)")
    p.add_argument("--track-s", type=float, default=180.0, help="synthetic track length (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reports/benchmarks/fingerprint_scale", help="output folder")
    return p.parse_args(argv)


def _queries(manifest: Path, splits: list[str], count: int, seconds: float, snr: int, seed: int
             ) -> list[tuple[str, np.ndarray, int]]:
    """``(track id, degraded audio, rate)``: the evaluation's query chain (concert at ``snr``, phone upload)."""
    from soundsafe.audio.io import read_audio
    from soundsafe.fingerprint.evaluate import _audible_excerpt, _Degradation, _degrade, _parallel_map
    from soundsafe.manifest import audio_path, read_manifest

    df = read_manifest(manifest)
    rows = df[df["split"].isin(splits)]
    if rows.empty:
        raise SystemExit(f"{manifest}: no tracks in splits {splits}")
    rng = np.random.default_rng(seed)
    jobs, ids, loaded = [], [], {}
    for i in range(count):
        row = rows.iloc[i % len(rows)]
        if row["path"] not in loaded:  # queries go round the tracks: read each once
            loaded[row["path"]] = read_audio(audio_path(manifest, row["path"]))
        audio, sr = loaded[row["path"]]
        excerpt = _audible_excerpt(audio, int(seconds * sr), rng)
        codec = ("aac:64k", "opus:32k")[i % 2]
        jobs.append(_Degradation(excerpt, sr, snr, seed + 1000 * i + 100 + snr, codec, 16000))
        ids.append(Path(row["path"]).stem)
    degraded = _parallel_map(_degrade, jobs, 0, "query audio", "query")
    return [(t, a, r) for t, (a, r) in zip(ids, degraded, strict=True)]


def _training_set(vectors: np.ndarray, want: int, rng: np.random.Generator) -> np.ndarray:
    """The real vectors plus perturbed, renormalized copies of them, ``want`` rows in all (k-means wants ~39 per
    list; a real catalogue of 10,000 h would supply real ones)."""
    extra = max(0, want - len(vectors))
    base = vectors[rng.integers(len(vectors), size=extra)]
    noisy = base + rng.normal(0, 0.15 / math.sqrt(vectors.shape[1]), base.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    return np.ascontiguousarray(np.concatenate([vectors, noisy]).astype(np.float32))


def _ivfpq(vectors: np.ndarray, nlist: int, m: int, nbits: int, rng: np.random.Generator) -> Any:
    import faiss

    from soundsafe.fingerprint.index import ivfpq_index

    index = ivfpq_index(vectors.shape[1], nlist, m, nbits)
    index.cp.niter = 10  # k-means iterations: 10 instead of 25 (2 cores; the lists barely move after that)
    started = time.perf_counter()
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # training on every core; queries are timed on one
    index.train(_training_set(vectors, max(39 * nlist, 4096), rng))  # the PQ wants ≥ 256 per codebook too
    faiss.omp_set_num_threads(1)
    print(f"IVF-PQ trained ({nlist} lists, m={m}, nbits={nbits}) in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    index.add(vectors)
    return index


def _list_codes(ivf: Any, packer: Any, i: int, have: int) -> np.ndarray:
    """The ``(have, code_size)`` codes of list ``i``; fast-scan lists store them in packed blocks of 32."""
    import faiss

    if packer is None:
        return faiss.rev_swig_ptr(ivf.invlists.get_codes(i), have * ivf.code_size).reshape(have, -1).copy()
    blocks = -(-have // packer.nvec)
    raw = faiss.rev_swig_ptr(ivf.invlists.get_codes(i), blocks * packer.block_size).reshape(blocks, -1).copy()
    # one block at a time: faiss's unpack_1 wrapper refuses offsets past one block's worth of a multi-block array
    return np.stack([packer.unpack_1(raw[j // packer.nvec][None], j % packer.nvec) for j in range(have)])


def _add_codes(ivf: Any, packer: Any, i: int, ids: np.ndarray, codes: np.ndarray) -> None:
    """Append ``codes`` (flat, one row per entry) to list ``i`` under ``ids``, packed first for fast-scan lists."""
    import faiss

    if packer is not None:
        blocks = -(-len(codes) // packer.nvec)
        flat = np.zeros((blocks * packer.nvec, codes.shape[1]), np.uint8)
        flat[: len(codes)] = codes
        packed = np.zeros((blocks, packer.block_size), np.uint8)
        for b in range(blocks):
            packer.pack_all(faiss.swig_ptr(flat[b * packer.nvec:]), faiss.swig_ptr(packed[b]))
        codes = packed
    ivf.invlists.add_entries(i, len(ids), faiss.swig_ptr(np.ascontiguousarray(ids)), faiss.swig_ptr(codes))


def _fill(index: Any, real: int, target: int, rng: np.random.Generator, store: Any = None) -> None:
    """Add ``target − real`` synthetic entries (ids ``real …``, in a random order over the lists) whose codes mix
    the sub-codes of random real entries of the same list; a rescoring ``store`` gets each entry's decoded vector
    (the list's centroid plus its residual), encoded again, at its row."""
    import faiss

    from soundsafe.fingerprint.index import stored_codes
    from soundsafe.progress import progress

    ivf = faiss.extract_index_ivf(index)
    ivf.make_direct_map(False)  # entries added past the index's back: a direct map made before would be stale
    # (extract_index_ivf hands back the IndexIVF base class: ask the index itself whether its lists are packed)
    packer = ivf.get_CodePacker() if isinstance(index, faiss.IndexIVFFastScan) else None
    sizes = np.array([ivf.invlists.list_size(i) for i in range(ivf.nlist)], np.int64)
    extra = target - real
    shares = np.floor(sizes / sizes.sum() * extra).astype(np.int64)
    shares[np.argsort(-sizes)[: extra - int(shares.sum())]] += 1  # the remainder to the biggest lists
    ids = rng.permutation(np.arange(real, target, dtype=np.int64))
    if store is not None:  # one allocation for all rows, written in place list by list
        store.codes.resize(target * store.code_size)
        store.ntotal = target
        rows = stored_codes(store)
    first = 0
    for i in progress(range(ivf.nlist), desc="fill to scale", unit="list"):
        n, have = int(shares[i]), int(sizes[i])
        if n == 0:
            continue
        codes_real = _list_codes(ivf, packer, i, have)
        pick = rng.integers(have, size=(n, codes_real.shape[1]))  # per byte: 2 sub-codes at 4 bits, 1 at 8
        codes = np.ascontiguousarray(codes_real[pick, np.arange(pick.shape[1])])
        _add_codes(ivf, packer, i, ids[first: first + n], codes)
        if store is not None:
            vectors = index.pq.decode(codes)  # (the IndexIVF base class extract_index_ivf gives has no pq)
            if ivf.by_residual:
                vectors += ivf.quantizer.reconstruct(int(i))
            rows[ids[first: first + n]] = store.sa_encode(np.ascontiguousarray(vectors, np.float32))
        first += n
    index.ntotal = target
    _check_fill(ivf, packer, real, sizes, rng)


def _check_fill(ivf: Any, packer: Any, real: int, sizes: np.ndarray, rng: np.random.Generator) -> None:
    """Read back a few filled lists: every synthetic entry's code byte must be one of the list's real entries' bytes
    at that position (a layout mistake — packed fast-scan blocks read as flat codes — breaks this, and would fill
    the index with vectors that sit nowhere near the music, making the scale figures meaningless)."""
    import faiss

    for i in rng.choice(np.flatnonzero(sizes), size=min(16, int(np.count_nonzero(sizes))), replace=False):
        n = ivf.invlists.list_size(int(i))
        codes = _list_codes(ivf, packer, int(i), n)
        ids = faiss.rev_swig_ptr(ivf.invlists.get_ids(int(i)), n)
        is_real = np.asarray(ids) < real
        for byte in range(codes.shape[1]):
            if not np.isin(codes[~is_real, byte], codes[is_real, byte]).all():
                raise RuntimeError(f"list {i}: synthetic codes are not made of the list's real sub-codes (byte "
                                   f"{byte}); the fill misread the list layout")


def _size_bytes(index: Any, store: Any = None) -> int:
    """Bytes of the inverted lists (codes and ids) plus the coarse quantizer and the PQ codebooks, and of the
    rescoring ``store``'s codes and codebooks."""
    import faiss

    ivf = faiss.extract_index_ivf(index)
    entries = sum(ivf.invlists.list_size(i) for i in range(ivf.nlist))
    size = entries * (ivf.code_size + 8) + ivf.nlist * ivf.d * 4 + index.pq.centroids.size() * 4
    if store is not None:
        size += store.ntotal * store.code_size + store.pq.centroids.size() * 4
    return int(size)


def _evaluate(fp_index: Any, encoder: Any, queries: list[tuple[str, np.ndarray, int]], k: int = NEIGHBOURS,
              rescore: int = RESCORE) -> dict[str, float]:
    """Top-1 and the median in-process latency of a query (embed + rank) and of its embedding alone."""
    from soundsafe.audio.io import resample
    from soundsafe.fingerprint.index import embed_windows

    hits, totals, embeds = 0, [], []
    hop = round(fp_index.hop_s * encoder.config.sample_rate)
    for track, audio, sr in queries:
        mono = resample(audio, sr, encoder.config.sample_rate).mean(axis=1)
        started = time.perf_counter()
        ranked = fp_index.rank(encoder, mono, k=k, rescore=rescore)
        totals.append(time.perf_counter() - started)
        started = time.perf_counter()
        embed_windows(encoder, mono, hop)
        embeds.append(time.perf_counter() - started)
        hits += bool(ranked) and ranked[0].track_id == track
    return {"top1": hits / len(queries), "latency_ms": 1000 * statistics.median(totals),
            "embed_ms": 1000 * statistics.median(embeds)}


def _table(result: dict[str, Any]) -> str:
    lines = [f"Fingerprint search at scale ({result['queries']} queries of {result['seconds']:g} s, concert at "
             f"{result['snr_db']:+d} dB + phone upload; encoder {result['encoder']} ({result['encoder_path']}); one "
             "thread)", "",
             "| index | windows | hours | nprobe | Top-1 | query ms (median) | of it embedding ms | MB per hour |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        lines.append(f"| {row['index']} | {row['windows']:,} | {row['hours']:,.1f} | {row.get('nprobe', '–')} | "
                     f"{row['top1']:.3f} | {row['latency_ms']:.1f} | {row['embed_ms']:.1f} | "
                     f"{row['mb_per_hour']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    import faiss

    from soundsafe.fingerprint.data import load_tracks
    from soundsafe.fingerprint.encoders import choose_encoder, encoder_id, load_any_encoder
    from soundsafe.fingerprint.index import FingerprintIndex, embed_catalog, rescore_store

    manifest = Path(args.manifest)
    if not manifest.is_file():
        raise SystemExit(f"{manifest}: no corpus manifest (run `dvc repro validate`, or pass --manifest)")
    faiss.omp_set_num_threads(1)
    import torch

    torch.set_num_threads(1)
    choice = choose_encoder(args.model)
    encoder = load_any_encoder(choice, threads=1)
    rng = np.random.default_rng(args.seed)
    queries = _queries(manifest, args.splits, args.queries, args.seconds, args.snr, args.seed)
    tracks = load_tracks(manifest, None, encoder.config.sample_rate)
    vectors, owner, offset = embed_catalog(encoder, tracks, HOP_S)
    catalog = [{"track": t.track_id, "title": t.title, "isrc": t.isrc} for t in tracks]
    real_hours = len(vectors) * HOP_S / 3600
    rows = []

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    fp = FingerprintIndex(exact, owner, offset, catalog, HOP_S, "exact", encoder_id(encoder))
    rows.append({"index": "exact", "windows": len(vectors), "hours": real_hours, **_evaluate(fp, encoder, queries),
                 "mb_per_hour": vectors.nbytes / real_hours / 1e6})
    head = {"queries": args.queries, "seconds": args.seconds, "snr_db": args.snr, "encoder": encoder_id(encoder),
            "encoder_path": str(choice.path)}
    print(_table({**head, "rows": rows}), file=sys.stderr)

    index = _ivfpq(vectors, args.nlist, args.m, args.nbits, rng)
    store = rescore_store(vectors, args.rescore_m) if args.rescore_m else None
    kind = f"ivfpq(nlist={args.nlist}, m={args.m}, nbits={args.nbits}, rescore_m={args.rescore_m})"
    fp = FingerprintIndex(index, owner, offset, catalog, HOP_S, kind, encoder_id(encoder), store)
    for nprobe in args.nprobe:
        index.nprobe = nprobe
        rows.append({"index": "IVF-PQ, real catalogue", "windows": len(vectors), "hours": real_hours,
                     "nprobe": nprobe, **_evaluate(fp, encoder, queries),
                     "mb_per_hour": _size_bytes(index, store) / real_hours / 1e6})

    target = max(len(vectors), round(args.hours * 3600 / HOP_S))
    _fill(index, len(vectors), target, rng, store)
    per_track = max(1, round(args.track_s / HOP_S))
    synthetic = np.arange(target - len(vectors), dtype=np.int64)
    big_owner = np.concatenate([owner, (len(tracks) + synthetic // per_track).astype(np.int32)])
    big_offset = np.concatenate([offset, ((synthetic % per_track) * HOP_S).astype(np.float32)])
    del synthetic
    synth_tracks = int(big_owner[-1]) + 1 - len(tracks)
    big_catalog = catalog + [{"track": f"synthetic-{i}", "title": "", "isrc": ""} for i in range(synth_tracks)]
    fp = FingerprintIndex(index, big_owner, big_offset, big_catalog, HOP_S, kind, encoder_id(encoder), store)
    hours = target * HOP_S / 3600
    for k in args.neighbours:
        for rescore in args.rescore:
            for nprobe in args.nprobe:
                index.nprobe = nprobe
                rows.append({"index": f"IVF-PQ, filled to scale, k={k}, rescore={rescore}", "windows": target,
                             "hours": hours, "nprobe": nprobe, **_evaluate(fp, encoder, queries, k, rescore),
                             "mb_per_hour": _size_bytes(index, store) / hours / 1e6})
                print(_table({**head, "rows": rows}), file=sys.stderr)

    result = {**head, "nlist": args.nlist, "m": args.m, "nbits": args.nbits, "rescore_m": args.rescore_m,
              "track_s": args.track_s, "window_table_bytes_per_window": 8, "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "scale.json") as tmp:
        Path(tmp).write_text(json.dumps(result, indent=1) + "\n")
    with atomic_path(out / "scale.md") as tmp:
        Path(tmp).write_text(_table(result))
    print(_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
