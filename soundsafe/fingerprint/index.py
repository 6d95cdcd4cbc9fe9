"""The FAISS catalog index and search: window embeddings in, track decisions out.

Every catalog track is cut into windows every ``hop_s`` and embedded. Small catalogs use an exact inner-product
index (``IndexFlatIP``; embeddings are unit vectors, so inner product is cosine); past ``exact_max_windows``
windows an IVF-PQ index (``nlist`` lists, ``m`` sub-quantizers of ``nbits``; 4 bits: FAISS's fast-scan layout) keeps
memory per hour of audio small.
A query is cut the same way; each of its windows retrieves ``k`` neighbours (32), a hit votes for its track at
the alignment it implies (reference offset − query offset), and a track's vote is its best alignment's summed
similarity divided by the number of query windows, so hits must agree in time to add up: that is what separates
a song from a lookalike in noise. The votes only shortlist: in loud noise many of a query's windows find their
true neighbour below the ``k`` retrieved, so each of the ``rescore`` (1,500) best-voted (track, alignment)
candidates is scored again on the whole query, every query window against the catalog window its alignment puts
beside it (the alignment refined to one hop): the mean of those similarities is the candidate's score, a track's
best candidate its score. Candidates, not tracks, because at catalogue scale the true track is often hit by a
single window while lookalikes (or a repeated passage of the same track) collect more votes; a deep shortlist is
cheap, since all candidates' stored windows are fetched in one call. An IVF-PQ index keeps a second, finer copy
of every window for that rescoring (``rescore_m`` 8-bit sub-quantizers, 32 bytes a window): rescoring with the
search's own 16-byte codes cost 6.5 points of Top-1 against exact search, rescoring with the finer copy 1, and
decoding gathered codes is ~15× faster than reading them back out of fast-scan lists. The decision is the best
track, its score, its margin over the runner-up (what a threshold applies to) and where in it the query starts.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from soundsafe.atomic import atomic_dir
from soundsafe.fingerprint.encoders import encoder_id

if TYPE_CHECKING:
    from soundsafe.fingerprint.data import Track

__all__ = ["FingerprintIndex", "Match", "embed_catalog", "embed_windows", "ivfpq_index", "rescore_store",
           "stored_codes", "window_starts"]

_FILES = ("index.faiss", "windows.npz", "catalog.json")
_RESCORE_FILE = "rescore.faiss"  # IVF-PQ indexes only: the finer copy of every window the rescoring reads
NEIGHBOURS = 32  # catalog windows each query window retrieves (real-music queries: more Top-1 than 10)
FAST_SCAN = "-fastscan"  # in an index's kind: 4-bit codes in FAISS's fast-scan layout
RESCORE = 1500  # best-voted (track, alignment) candidates scored again on the whole query (10,000 h wants depth)


@dataclass(frozen=True)
class Match:
    """One ranked candidate for a query."""

    track_id: str
    title: str
    isrc: str
    score: float  # aligned mean similarity, 0…1
    offset_s: float  # where in the track the query starts
    # score minus the best other candidate's: the decision statistic (for the best match, its lead over the
    # runner-up). Unrelated windows of this encoder are far from orthogonal, so any track's aligned similarity
    # to noise is high; how far the best stands out is what says a song was found.
    margin: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"track": self.track_id, "title": self.title, "isrc": self.isrc, "score": round(self.score, 4),
                "margin": round(self.margin, 4), "offset_s": round(self.offset_s, 2)}


def window_starts(samples: int, window: int, hop: int) -> list[int]:
    """Window starts covering ``samples`` every ``hop`` (one window, zero-padded, when shorter than ``window``)."""
    return list(range(0, max(1, samples - window + 1), hop))


def _encode(encoder: Any, windows: np.ndarray) -> np.ndarray:
    """Embeddings of ``windows`` by a torch module or by a NumPy-in, NumPy-out encoder (ONNX)."""
    if hasattr(encoder, "parameters"):  # torch, imported only for a torch encoder (the ONNX path starts fast)
        import torch

        with torch.no_grad():
            return encoder(torch.from_numpy(windows)).numpy()
    return np.asarray(encoder(windows))


def ivfpq_index(dim: int, nlist: int, m: int, nbits: int) -> Any:
    """An untrained inner-product IVF-PQ index. 4-bit codes use FAISS's fast-scan layout (codes in blocks of 32,
    scanned with SIMD table lookups: ~17× faster per code than 8-bit IVF-PQ on one core, which is what decides
    the latency at 10,000 h); other widths the classic ``IndexIVFPQ``."""
    import faiss

    if nbits == 4:
        return faiss.IndexIVFPQFastScan(faiss.IndexFlatIP(dim), dim, nlist, m, 4, faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)


def rescore_store(vectors: np.ndarray, m: int) -> Any:
    """A flat product-quantized copy of ``vectors`` in row order (``m`` sub-quantizers of 8 bits; fewer bits when
    there are too few vectors to train 256 centroids) that the rescoring decodes rows from."""
    import faiss

    bits = int(min(8, max(1, np.log2(max(2, len(vectors))) - 1)))  # k-means wants ≥ 2 points a centroid
    store = faiss.IndexPQ(vectors.shape[1], m, bits, faiss.METRIC_INNER_PRODUCT)
    store.train(vectors)
    store.add(vectors)
    return store


def stored_codes(store: Any) -> np.ndarray:
    """A view ``(rows, code_size)`` of a flat-code FAISS index's codes (no copy; invalid once codes are added)."""
    import faiss

    return faiss.rev_swig_ptr(store.codes.data(), store.ntotal * store.code_size).reshape(store.ntotal, -1)


def embed_windows(encoder: Any, audio: np.ndarray, hop: int, batch: int = 256) -> np.ndarray:
    """Embeddings ``(windows, dim)`` float32 of mono ``audio`` at the encoder's rate, windows every ``hop``."""
    n = encoder.config.window_samples
    padded = np.pad(audio.astype(np.float32), (0, max(0, n - audio.size)))
    starts = window_starts(padded.size, n, hop)
    out = []
    for first in range(0, len(starts), batch):
        windows = np.stack([padded[s: s + n] for s in starts[first: first + batch]])
        out.append(_encode(encoder, windows))
    return np.concatenate(out).astype(np.float32)


def embed_catalog(encoder: Any, tracks: list[Track], hop_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vectors, track, offset_s)`` of every track's windows every ``hop_s``, track by track (the index's rows)."""
    hop = round(hop_s * encoder.config.sample_rate)
    vectors, owner, offset = [], [], []
    for i, track in enumerate(tracks):
        emb = embed_windows(encoder, track.audio, hop)
        vectors.append(emb)
        owner.append(np.full(len(emb), i, np.int32))
        offset.append((np.arange(len(emb)) * hop_s).astype(np.float32))
    return np.ascontiguousarray(np.concatenate(vectors)), np.concatenate(owner), np.concatenate(offset)


class FingerprintIndex:
    """A catalog's window embeddings in FAISS, with each window's track and offset."""

    def __init__(self, index: Any, window_track: np.ndarray, window_offset: np.ndarray,
                 tracks: list[dict[str, str]], hop_s: float, kind: str, encoder: str = "",
                 rescore_store: Any = None) -> None:
        self.index, self.window_track, self.window_offset = index, window_track, window_offset
        self.rescore_store = rescore_store  # finer copy of every window for the rescoring (None: the index's own)
        self.tracks, self.hop_s, self.kind = tracks, hop_s, kind
        self.encoder = encoder  # id of the encoder that embedded the catalog ('' when unknown)
        # track t's windows are rows bounds[t]:bounds[t + 1] of the index (build adds them track by track)
        self._bounds = np.searchsorted(window_track, np.arange(len(tracks) + 1), side="left")
        self._direct_map = kind == "exact"  # IVF indexes need one to give back stored vectors

    @classmethod
    def build(cls, encoder: Any, tracks: list[Track], hop_s: float = 0.25,
              exact_max_windows: int = 200_000, nlist: int = 1024, m: int = 32, nbits: int = 4,
              nprobe: int = 16, rescore_m: int = 32) -> FingerprintIndex:
        """Embed ``tracks`` and index them: exact up to ``exact_max_windows`` windows, else IVF-PQ (``nlist`` lists,
        ``m`` × ``nbits`` codes, ``nprobe`` probed) with a ``rescore_m``-byte copy of each window for the
        rescoring (0: rescore from the search codes)."""
        import faiss

        data, owner, offset = embed_catalog(encoder, tracks, hop_s)
        dim, store = data.shape[1], None
        if len(data) <= exact_max_windows:
            index, kind = faiss.IndexFlatIP(dim), "exact"
        else:
            lists = max(1, min(nlist, len(data) // 39))
            index = ivfpq_index(dim, lists, m, nbits)
            index.train(data)
            index.nprobe = min(nprobe, lists)
            kind = f"ivfpq{FAST_SCAN if nbits == 4 else ''}(nlist={lists}, m={m}, nbits={nbits}, nprobe={index.nprobe})"
            if rescore_m:
                store = rescore_store(data, rescore_m)
                kind += f" + rescore pq{rescore_m}x{store.pq.nbits}"
        index.add(data)
        catalog = [{"track": t.track_id, "title": t.title, "isrc": t.isrc} for t in tracks]
        return cls(index, owner, offset, catalog, hop_s, kind, encoder_id(encoder), store)

    @property
    def windows(self) -> int:
        return int(self.index.ntotal)

    def save(self, folder: str | os.PathLike[str]) -> int:
        """Write the index folder atomically; returns the size in bytes of its FAISS files (the index and the
        rescoring copy)."""
        import faiss

        with atomic_dir(folder) as tmp:
            faiss.write_index(self.index, str(tmp / _FILES[0]))
            if self.rescore_store is not None:
                faiss.write_index(self.rescore_store, str(tmp / _RESCORE_FILE))
            np.savez(tmp / _FILES[1], track=self.window_track, offset=self.window_offset)
            (tmp / _FILES[2]).write_text(json.dumps({"hop_s": self.hop_s, "kind": self.kind, "encoder": self.encoder,
                                                     "tracks": self.tracks}, indent=1) + "\n")
        files = [Path(folder) / f for f in (_FILES[0], _RESCORE_FILE)]
        return sum(f.stat().st_size for f in files if f.is_file())

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> FingerprintIndex:
        import faiss

        folder = Path(folder)
        missing = [f for f in _FILES if not (folder / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder}: not a fingerprint index (missing {', '.join(missing)}); build one "
                                    "with `soundsafe fingerprint index DIR` or `soundsafe step fingerprint_index`")
        windows = np.load(folder / _FILES[1])
        meta = json.loads((folder / _FILES[2]).read_text())
        index = faiss.read_index(str(folder / _FILES[0]))
        store = faiss.read_index(str(folder / _RESCORE_FILE)) if (folder / _RESCORE_FILE).is_file() else None
        if store is not None and store.ntotal != index.ntotal:
            raise ValueError(f"{folder}: {_RESCORE_FILE} holds {store.ntotal} windows but {_FILES[0]} "
                             f"{index.ntotal}; the folder mixes two builds: re-index the catalog")
        return cls(index, windows["track"], windows["offset"], meta["tracks"], float(meta["hop_s"]), meta["kind"],
                   str(meta.get("encoder", "")), store)

    def rank(self, encoder: Any, audio: np.ndarray, k: int = NEIGHBOURS, rescore: int = RESCORE) -> list[Match]:
        """Catalog tracks ranked for mono ``audio`` (at the encoder's rate); tracks never hit are left out. The
        tracks of the ``rescore`` best-voted (track, alignment) candidates come first, ranked by their aligned
        similarity over the whole query (0: rank by the votes alone). Raises ``ValueError`` when the index records
        another encoder than ``encoder`` (embeddings would not match)."""
        used = encoder_id(encoder)
        if self.encoder and used and used != self.encoder:
            raise ValueError(f"this index was built by fingerprint encoder {self.encoder} but the query encoder is "
                             f"{used}; pass the catalog's encoder with --model, or re-index the catalog")
        hop = round(self.hop_s * encoder.config.sample_rate)
        queries = embed_windows(encoder, audio, hop)
        sims, ids = self.index.search(queries, min(k, self.windows))
        votes: dict[tuple[int, int], dict[int, float]] = defaultdict(dict)
        for j, (row_sims, row_ids) in enumerate(zip(sims, ids, strict=True)):
            for sim, i in zip(row_sims, row_ids, strict=True):
                if i < 0:
                    continue
                # alignment in bins of two hops: adjacent index windows of the same match land together
                key = (int(self.window_track[i]), round((self.window_offset[i] - j * self.hop_s) / (2 * self.hop_s)))
                votes[key][j] = max(votes[key].get(j, -1.0), float(sim))
        voted = sorted(((sum(per_query.values()) / len(queries), track, align)
                        for (track, align), per_query in votes.items()), reverse=True)
        # the shortlist is (track, alignment) candidates, not tracks: at scale a true track is often hit by a
        # single window while a lookalike collects a few, so a track's best-voted alignment alone would miss it
        head = self._aligned(queries, [(t, 2 * a) for _, t, a in voted[:rescore]]) if rescore else []
        scored: dict[int, tuple[float, int]] = {}  # track → its best rescored (score, shift)
        for track, score, shift in head:
            if score > scored.get(track, (-np.inf, 0))[0]:
                scored[track] = (score, shift)
        order = sorted(((t, s, shift) for t, (s, shift) in scored.items()), key=lambda r: -r[1])
        seen = set(scored)
        for score, track, align in voted[rescore:]:  # then the other tracks by their votes, each once
            if track not in seen:
                seen.add(track)
                order.append((track, score, 2 * align))
        top = [*sorted((s for _, s, _ in order), reverse=True)[:2], 0.0, 0.0]  # best and runner-up
        return [Match(self.tracks[t]["track"], self.tracks[t]["title"], self.tracks[t]["isrc"], s,
                      max(0.0, shift * self.hop_s), s - (top[1] if i == 0 else top[0]))
                for i, (t, s, shift) in enumerate(order)]

    def _aligned(self, queries: np.ndarray, candidates: list[tuple[int, int]]) -> list[tuple[int, float, int]]:
        """``(track, score, shift)`` per ``(track, shift)`` candidate: the mean similarity of every query window j
        to the track's window ``shift + j`` (windows outside the track count 0), at the best shift within one hop
        of ``shift``. All candidates' windows are fetched from the index in one call."""
        if not candidates:
            return []
        n = len(queries)
        track = np.array([t for t, _ in candidates], np.int64)
        shift = np.array([s for _, s in candidates], np.int64)
        first, count = self._bounds[track], self._bounds[track + 1] - self._bounds[track]
        pos = shift[:, None] + np.arange(-1, n + 1)[None, :]  # track positions for shifts −1, 0, +1 together
        valid = (pos >= 0) & (pos < count[:, None])
        refs = np.zeros((*pos.shape, queries.shape[1]), np.float32)
        if valid.any():
            refs[valid] = self._rows((first[:, None] + pos)[valid])
        # (candidate, shift −1/0/+1): query window j against reference position j + 1 + delta
        totals = np.stack([np.einsum("rjd,jd->r", refs[:, 1 + d: 1 + d + n], queries) for d in (-1, 0, 1)], 1) / n
        pick = totals.argmax(1)  # ties go to the earliest shift, as the shortlist's order would
        return [(int(t), float(totals[i, pick[i]]), int(shift[i] + pick[i] - 1)) for i, t in enumerate(track)]

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        """Stored embeddings of index rows ``rows`` (IVF-PQ: their quantized values, from the rescoring copy when
        there is one)."""
        rows = np.ascontiguousarray(rows, np.int64)
        if self.rescore_store is not None:  # gathered codes decoded in one call
            codes = np.ascontiguousarray(stored_codes(self.rescore_store)[rows])
            return np.asarray(self.rescore_store.sa_decode(codes), np.float32)
        if self.kind == "exact":
            return np.asarray(self.index.reconstruct_batch(rows), np.float32)
        if not self._direct_map:
            import faiss

            faiss.extract_index_ivf(self.index).make_direct_map()
            self._direct_map = True
        # by id through the direct map: IndexIVF.reconstruct_n scans every list (seconds at 10,000 h)
        return np.asarray(self.index.reconstruct_batch(rows), np.float32)
