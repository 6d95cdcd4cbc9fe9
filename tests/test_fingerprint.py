"""The fingerprint: losses, learning, FAISS search and its alignment vote, IVF-PQ, Chromaprint, ONNX, CLI."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from soundsafe.fingerprint.chromaprint import ChromaprintCatalog, ChromaprintMissing, fpcalc_raw
from soundsafe.fingerprint.config import FingerprintConfig
from soundsafe.fingerprint.data import Track, load_tracks
from soundsafe.fingerprint.evaluate import summarize
from soundsafe.fingerprint.index import FingerprintIndex, embed_catalog
from soundsafe.fingerprint.losses import LOSSES, nt_xent
from soundsafe.fingerprint.model import build_encoder, save_encoder
from soundsafe.fingerprint.train import TrainSpec, _batch, _degrade
from soundsafe.fingerprint.views import PoolSpec, ViewPool
from soundsafe.manifest import MANIFEST_NAME

SR = 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 8-second demo tracks (train/val/test) with a manifest."""
    from soundsafe.corpus.build import build_demo_corpus

    out = tmp_path_factory.mktemp("fp") / "corpus"
    build_demo_corpus(out, tracks=6, seconds=8.0, sample_rate=44100, seed=3,
                      splits={"train": 0.5, "val": 0.25, "test": 0.25}, workers=1)
    return out


@pytest.fixture(scope="module")
def tracks(corpus: Path) -> list[Track]:
    return load_tracks(corpus / MANIFEST_NAME, None, SR)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return build_encoder().eval()  # untrained: exact copies still match best, which is what the search tests need


def test_losses_prefer_matching_views() -> None:
    rng = torch.Generator().manual_seed(0)
    base = torch.nn.functional.normalize(torch.randn(8, 128, generator=rng), dim=-1)
    labels = torch.arange(8).repeat_interleave(2)
    aligned = base.repeat_interleave(2, dim=0)  # each pair identical
    shuffled = torch.nn.functional.normalize(torch.randn(16, 128, generator=rng), dim=-1)
    for name, loss in LOSSES.items():
        assert float(loss(aligned, labels)) < float(loss(shuffled, labels)), name
    with pytest.raises(ValueError, match="pairs"):
        nt_xent(base[:3], labels[:3])


def test_training_step_learns_a_batch(tracks: list[Track]) -> None:
    """Thirty steps on one fixed batch of concert-degraded pairs must cut the loss: the model learns."""
    config = FingerprintConfig()
    spec = TrainSpec(batch=3)
    torch.manual_seed(0)
    model = build_encoder(config)
    train = tracks[:3]
    clean, shifted, labels = _batch(train, np.array([[1, 2], [0, 2], [0, 1]]), spec, config,
                                    np.random.default_rng(0))
    pool = ViewPool(PoolSpec(crowds=2, rooms=1), SR)
    degraded = _degrade(shifted, pool, 2, np.random.default_rng(0), torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        z = model(torch.stack([clean, degraded], 1).reshape(-1, clean.shape[1]))
        loss = nt_xent(z, labels.repeat_interleave(2))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_train_spec_checks_its_schedule() -> None:
    assert TrainSpec.from_params({"schedule": "cosine", "steps": 10}).schedule == "cosine"
    with pytest.raises(ValueError, match="'constant' or 'cosine'"):
        TrainSpec.from_params({"schedule": "linear"})


def test_index_identifies_an_excerpt_and_where_it_starts(tracks: list[Track], encoder, tmp_path: Path) -> None:
    index = FingerprintIndex.build(encoder, tracks, hop_s=0.25)
    assert index.kind == "exact" and index.windows == sum(len(range(0, t.audio.size - SR + 1, SR // 4))
                                                          for t in tracks)
    index.save(tmp_path / "index")
    loaded = FingerprintIndex.load(tmp_path / "index")
    target = tracks[4]
    excerpt = target.audio[int(2.5 * SR): int(5.5 * SR)]
    ranked = loaded.rank(encoder, excerpt)
    assert ranked[0].track_id == target.track_id and abs(ranked[0].offset_s - 2.5) <= 0.5
    assert ranked[0].score > 0.9 and (len(ranked) == 1 or ranked[1].score < ranked[0].score)
    with pytest.raises(FileNotFoundError, match="not a fingerprint index"):
        FingerprintIndex.load(tmp_path)


def test_ivfpq_index_for_large_catalogs(tracks: list[Track], encoder) -> None:
    index = FingerprintIndex.build(encoder, tracks, hop_s=0.25, exact_max_windows=0, nlist=2, m=32, nbits=4,
                                   nprobe=2)  # a catalog this small only trains 16-centroid sub-quantizers
    assert index.kind.startswith("ivfpq")
    for target in (1, 2, 5):
        excerpt = tracks[target].audio[SR: 4 * SR]
        assert index.rank(encoder, excerpt)[0].track_id == tracks[target].track_id
    # the rescoring decodes rows of its finer copy, in index row order
    assert index.rescore_store is not None and "rescore pq32" in index.kind
    assert np.allclose(index._rows(np.arange(3, 8)), index.rescore_store.reconstruct_n(3, 5), atol=1e-6)
    # without one it reads the index's own codes by id through the direct map (reconstruct_n scans every list)
    own = FingerprintIndex(index.index, index.window_track, index.window_offset, index.tracks, index.hop_s,
                           index.kind, index.encoder)
    assert np.array_equal(own._rows(np.arange(3, 8)), index.index.reconstruct_n(3, 5))


def test_rescoring_copy_is_saved_and_checked_against_the_index(tracks: list[Track], encoder, tmp_path: Path) -> None:
    import faiss

    index = FingerprintIndex.build(encoder, tracks, hop_s=0.25, exact_max_windows=0, nlist=2, m=32, nbits=4,
                                   nprobe=2, rescore_m=16)
    size = index.save(tmp_path / "ix")
    assert size == sum((tmp_path / "ix" / f).stat().st_size for f in ("index.faiss", "rescore.faiss"))
    loaded = FingerprintIndex.load(tmp_path / "ix")
    rows = np.array([0, 7, 3, 7])
    assert np.array_equal(loaded._rows(rows), index._rows(rows))
    # finer than the search codes: closer to the true embeddings than the fast-scan reconstruction
    vectors, _, _ = embed_catalog(encoder, tracks, 0.25)
    own = np.asarray(index.index.reconstruct_n(0, len(vectors)))
    assert (np.linalg.norm(index._rows(np.arange(len(vectors))) - vectors, axis=1).mean()
            < np.linalg.norm(own - vectors, axis=1).mean())
    store = loaded.rescore_store
    store.add(np.zeros((1, store.d), np.float32))  # a copy from another build: one window more
    faiss.write_index(store, str(tmp_path / "ix" / "rescore.faiss"))
    with pytest.raises(ValueError, match="mixes two builds"):
        FingerprintIndex.load(tmp_path / "ix")


def test_chromaprint_matcher_finds_a_clean_excerpt(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from soundsafe.audio.io import read_audio
    from soundsafe.manifest import audio_path, read_manifest

    catalog = ChromaprintCatalog()
    audio = {}
    for rel in read_manifest(corpus / MANIFEST_NAME)["path"]:
        a, sr = read_audio(audio_path(corpus / MANIFEST_NAME, rel))
        audio[Path(rel).stem] = (a, sr)
        catalog.add(Path(rel).stem, a, sr)
    name, (a, sr) = sorted(audio.items())[3]
    ranked = catalog.rank(a[sr: 7 * sr], sr)
    assert ranked[0][0] == name and ranked[0][1] > 0.65 and ranked[0][2] == pytest.approx(1.0, abs=0.3)
    assert catalog.rank(a[: sr // 2], sr) == []  # too short for Chromaprint: no ranking at all
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ChromaprintMissing, match="libchromaprint-tools"):
        fpcalc_raw(a, sr)


def test_summary_metrics_are_computed_from_ranks() -> None:
    table = pd.DataFrame({"system": ["a"] * 4, "snr_db": [0] * 4, "seconds": [3.0] * 4,
                          "rank": [1, 2, 7, math.inf], "latency_ms": [1.0, 2.0, 3.0, 4.0]})
    row = summarize(table).iloc[0]
    assert row.top1 == 0.25 and row.top5 == 0.5 and row.mrr == pytest.approx((1 + 0.5 + 1 / 7) / 4)


def test_onnx_export_matches_torch(tracks: list[Track], encoder, tmp_path: Path) -> None:
    from soundsafe.fingerprint.export import export_encoder

    windows = np.stack([t.audio[i * SR: (i + 1) * SR] for i, t in enumerate(tracks)]).astype(np.float32)
    windows[0] = 0.0  # silence must not break the graph (log of zero power)
    metrics = export_encoder(encoder, tmp_path, windows)
    assert metrics["onnx_fp32.max_abs_diff"] < 1e-4 and metrics["onnx_fp32.min_cosine"] > 0.9999
    assert metrics["onnx_int8.mean_cosine"] > 0.98 and (tmp_path / "encoder.int8.onnx").is_file()  # issue 20
    assert metrics["onnx_int8.ms_per_window_1thread"] > 0 and metrics["onnx_fp32.ms_per_window_1thread"] > 0


def test_cli_index_and_identify(tracks: list[Track], encoder, tmp_path: Path, capsys) -> None:
    from soundsafe.cli.main import main

    folder = tmp_path / "catalog"
    folder.mkdir()
    for t in tracks:
        sf.write(folder / f"{t.track_id}.wav", t.audio, SR)
    save_encoder(tmp_path / "model.pt", encoder)
    assert main(["fingerprint", "index", str(folder), "--out", str(tmp_path / "idx"),
                 "--model", str(tmp_path / "model.pt")]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["tracks"] == len(tracks) and built["kind"] == "exact"
    query = tmp_path / "query.wav"
    sf.write(query, tracks[1].audio[2 * SR: 5 * SR], SR)
    # an untrained encoder embeds every window alike (cosine ~0.99): the true track leads by < 0.01, not 0.1
    code = main(["fingerprint", "identify", str(query), "--index", str(tmp_path / "idx"),
                 "--model", str(tmp_path / "model.pt"), "--threshold", "0.001"])
    answer = json.loads(capsys.readouterr().out)
    assert code == 0 and answer["identified"] and answer["track"] == f"{tracks[1].track_id}.wav"
    assert main(["fingerprint", "identify", os.devnull + "x", "--index", str(tmp_path / "idx")]) == 1


class _TableEncoder:
    """A stand-in encoder: the window whose first sample is k embeds as row k of ``table`` (exact vectors for the
    search logic, no audio model)."""

    def __init__(self, table: np.ndarray) -> None:
        from types import SimpleNamespace

        self.table, self.config = table, SimpleNamespace(sample_rate=16, window_samples=4)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        return self.table[np.rint(windows[:, 0]).astype(int)]


def _mixed(target: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at (about) ``cosine`` to the unit vector ``target``."""
    other = rng.standard_normal(target.size)
    other -= other @ target * target
    return (cosine * target + math.sqrt(1 - cosine**2) * other / np.linalg.norm(other)).astype(np.float32)


def test_whole_query_rescoring_finds_the_track_the_votes_miss() -> None:
    """Loud noise: only 4 of 10 query windows find their true window first; the other 6 find, at one consistent
    alignment, a lookalike track's windows slightly closer than their true ones. The votes (top-1 hits only) pick
    the lookalike; scoring every query window against its aligned catalog window picks the right track, at the
    right place."""
    import faiss

    rng = np.random.default_rng(0)
    dim, n = 256, 10
    queries = rng.standard_normal((n, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    song = rng.standard_normal((20, dim)).astype(np.float32)  # track 0: the query is its windows 5…14
    lookalike = rng.standard_normal((20, dim)).astype(np.float32)  # track 1: windows 2…11 mimic 6 of them
    for j in range(n):
        song[5 + j] = _mixed(queries[j], 0.6 if j < 4 else 0.45, rng)
        if j >= 4:
            lookalike[2 + j] = _mixed(queries[j], 0.5, rng)
    catalog = np.concatenate([song, lookalike])
    catalog /= np.linalg.norm(catalog, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(dim)
    flat.add(catalog)
    index = FingerprintIndex(flat, np.repeat([0, 1], 20).astype(np.int32), np.tile(np.arange(20) * 0.25, 2),
                             [{"track": name, "title": "", "isrc": ""} for name in ("song", "lookalike")],
                             0.25, "exact")
    encoder = _TableEncoder(queries)
    audio = np.repeat(np.arange(n, dtype=np.float32), 4)  # window j starts with the sample value j
    votes = index.rank(encoder, audio, k=1, rescore=0)
    assert votes[0].track_id == "lookalike"
    rescored = index.rank(encoder, audio, k=1)
    assert [m.track_id for m in rescored] == ["song", "lookalike"]
    assert rescored[0].offset_s == pytest.approx(5 * 0.25)
    assert rescored[0].score == pytest.approx((4 * 0.6 + 6 * 0.45) / n, abs=0.03)
    assert rescored[1].score < 0.35
    # the decision statistic: the best track's lead over the runner-up (and the others' distance below the best)
    assert rescored[0].margin == pytest.approx(rescored[0].score - rescored[1].score) and rescored[0].margin > 0.1
    assert rescored[1].margin == pytest.approx(-rescored[0].margin)


def test_shortlist_scores_each_alignment_of_a_track_not_only_its_best_voted() -> None:
    """At catalogue scale a true track is often hit by one query window at the right alignment while a repeated
    passage of the same track (or of a lookalike) collects more votes elsewhere. The rescoring shortlist holds
    (track, alignment) candidates, so the single right hit is scored on the whole query and wins."""
    import faiss

    rng = np.random.default_rng(1)
    dim, n = 256, 10
    queries = rng.standard_normal((n, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    song = rng.standard_normal((40, dim)).astype(np.float32)
    for j in range(n):  # the query is windows 20…29, each at 0.45 but window 0 (0.7): only that one is found
        song[20 + j] = _mixed(queries[j], 0.7 if j == 0 else 0.45, rng)
    for j in (1, 2, 3):  # a passage at windows 3…5 resembles three query windows more than their true windows
        song[2 + j] = _mixed(queries[j], 0.6, rng)
    song /= np.linalg.norm(song, axis=1, keepdims=True)
    other = rng.standard_normal((40, dim)).astype(np.float32)
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    for j in range(4, n):  # the rest find another track's windows first, each at its own alignment
        other[5 * j - 15] = _mixed(queries[j], 0.5, rng)
    flat = faiss.IndexFlatIP(dim)
    flat.add(np.concatenate([song, other]))
    index = FingerprintIndex(flat, np.repeat([0, 1], 40).astype(np.int32), np.tile(np.arange(40) * 0.25, 2),
                             [{"track": name, "title": "", "isrc": ""} for name in ("song", "other")], 0.25, "exact")
    encoder = _TableEncoder(queries)
    audio = np.repeat(np.arange(n, dtype=np.float32), 4)
    one_per_track = index.rank(encoder, audio, k=1, rescore=1)  # only the best-voted alignment: the passage
    assert one_per_track[0].offset_s == pytest.approx(2 * 0.25, abs=0.25)
    ranked = index.rank(encoder, audio, k=1)
    assert ranked[0].track_id == "song" and ranked[0].offset_s == pytest.approx(20 * 0.25)
    assert ranked[0].score == pytest.approx((0.7 + 9 * 0.45) / n, abs=0.03)
    assert ranked[0].score > one_per_track[0].score + 0.2
