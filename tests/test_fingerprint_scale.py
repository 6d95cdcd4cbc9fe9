"""The catalogue-scale benchmark runs end to end on a tiny corpus: exact, IVF-PQ, and IVF-PQ filled to scale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("nbits", [4, 8])  # fast-scan (packed blocks) and classic IVF-PQ lists fill differently
def test_scale_benchmark_fills_the_index_and_reports_every_configuration(tmp_path: Path, tiny_corpus_dir: Path,
                                                                         nbits: int) -> None:
    from soundsafe.manifest import MANIFEST_NAME

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "scale"
    done = subprocess.run([sys.executable, str(root / "benchmarks/fingerprint_scale.py"), "--manifest",
                           str(tiny_corpus_dir / MANIFEST_NAME), "--hours", "0.1", "--nlist", "4", "--nprobe", "1",
                           "2", "--neighbours", "8", "--rescore", "5", "50", "--m", str(128 // nbits), "--nbits",
                           str(nbits), "--queries", "2", "--seconds", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)  # no pipeline encoder here
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((out / "scale.json").read_text())
    rows = {(r["index"], r.get("nprobe")): r for r in result["rows"]}
    scaled_rows = {(f"IVF-PQ, filled to scale, k=8, rescore={r}", n) for r in (5, 50) for n in (1, 2)}
    assert set(rows) == {("exact", None), ("IVF-PQ, real catalogue", 1), ("IVF-PQ, real catalogue", 2), *scaled_rows}
    scaled = rows[("IVF-PQ, filled to scale, k=8, rescore=50", 2)]
    assert scaled["windows"] == 1440 and scaled["hours"] == pytest.approx(0.1)
    # 16 code bytes (32 × 4 or 16 × 8 bits) and an 8-byte id per window (14,400 an hour), plus codebooks
    assert scaled["mb_per_hour"] >= 24 * 14400 / 1e6
    assert all(0.0 <= r["top1"] <= 1.0 and r["latency_ms"] > 0 for r in result["rows"])
    assert "| exact |" in done.stdout and (out / "scale.md").is_file()


@pytest.mark.parametrize("nbits", [4, 8])
def test_fill_makes_synthetic_codes_from_each_lists_real_sub_codes(nbits: int) -> None:
    """Lists longer than one fast-scan block's worth of offsets (16,384) are read and filled too, and the fill's
    self-check (synthetic bytes drawn from the same list's real entries) holds for packed and flat lists."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import fingerprint_scale

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40_000, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    import faiss

    from soundsafe.fingerprint.index import rescore_store

    index = fingerprint_scale._ivfpq(vectors, 2, 128 // nbits, nbits, rng)
    store = rescore_store(vectors, 32)
    fingerprint_scale._fill(index, len(vectors), 2 * len(vectors), rng, store)
    assert index.ntotal == store.ntotal == 80_000
    found = index.search(vectors[:50], 4)[1]
    assert (found >= len(vectors)).any()  # synthetic entries are scanned and can be returned
    # each synthetic row of the rescoring copy is that row's search code decoded: nearer it than any other row's
    faiss.extract_index_ivf(index).make_direct_map()
    rows = rng.integers(len(vectors), 2 * len(vectors), size=200)
    searched = np.asarray(index.reconstruct_batch(rows))
    copied = np.asarray(store.reconstruct_batch(rows))
    own = np.linalg.norm(copied - searched, axis=1)
    other = np.linalg.norm(copied - np.roll(searched, 1, axis=0), axis=1)
    assert (own < 0.5 * other).all()
