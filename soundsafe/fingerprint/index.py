"""The FAISS catalog index and search: window embeddings in, track decisions out.

Every catalog track is cut into windows every ``hop_s`` and embedded. Small catalogs use an exact inner-product
index (``IndexFlatIP``; embeddings are unit vectors, so inner product is cosine); past ``exact_max_windows``
windows an IVF-PQ index (``nlist`` lists, ``m`` sub-quantizers of ``nbits``) keeps memory per hour of audio small.
A query is cut the same way; each of its windows retrieves ``k`` neighbours (32), a hit votes for its track at
the alignment it implies (reference offset − query offset), and a track's vote is its best alignment's summed
similarity divided by the number of query windows, so hits must agree in time to add up: that is what separates
a song from a lookalike in noise. The votes only shortlist: in loud noise many of a query's windows find their
true neighbour below the ``k`` retrieved, so each of the ``rescore`` (20) best-voted tracks is scored again on the
whole query, every query window against the catalog window its alignment puts beside it (the alignment refined
to one hop): the mean of those similarities is the track's score. The decision is the best track, its score,
its margin over the runner-up (what a threshold applies to) and where in it the query starts.
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

__all__ = ["FingerprintIndex", "Match", "embed_catalog", "embed_windows", "window_starts"]

_FILES = ("index.faiss", "windows.npz", "catalog.json")
NEIGHBOURS = 32  # catalog windows each query window retrieves (real-music queries: more Top-1 than 10)
RESCORE = 20  # best-voted tracks scored again on the whole query


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
                 tracks: list[dict[str, str]], hop_s: float, kind: str, encoder: str = "") -> None:
        self.index, self.window_track, self.window_offset = index, window_track, window_offset
        self.tracks, self.hop_s, self.kind = tracks, hop_s, kind
        self.encoder = encoder  # id of the encoder that embedded the catalog ('' when unknown)
        # track t's windows are rows bounds[t]:bounds[t + 1] of the index (build adds them track by track)
        self._bounds = np.searchsorted(window_track, np.arange(len(tracks) + 1), side="left")
        self._direct_map = kind == "exact"  # IVF indexes need one to give back stored vectors

    @classmethod
    def build(cls, encoder: Any, tracks: list[Track], hop_s: float = 0.25,
              exact_max_windows: int = 200_000, nlist: int = 1024, m: int = 16, nbits: int = 8,
              nprobe: int = 16) -> FingerprintIndex:
        import faiss

        data, owner, offset = embed_catalog(encoder, tracks, hop_s)
        dim = data.shape[1]
        if len(data) <= exact_max_windows:
            index, kind = faiss.IndexFlatIP(dim), "exact"
        else:
            lists = max(1, min(nlist, len(data) // 39))
            index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, lists, m, nbits, faiss.METRIC_INNER_PRODUCT)
            index.train(data)
            index.nprobe = min(nprobe, lists)
            kind = f"ivfpq(nlist={lists}, m={m}, nbits={nbits}, nprobe={index.nprobe})"
        index.add(data)
        catalog = [{"track": t.track_id, "title": t.title, "isrc": t.isrc} for t in tracks]
        return cls(index, owner, offset, catalog, hop_s, kind, encoder_id(encoder))

    @property
    def windows(self) -> int:
        return int(self.index.ntotal)

    def save(self, folder: str | os.PathLike[str]) -> int:
        """Write the index folder atomically; returns the FAISS index's size in bytes."""
        import faiss

        with atomic_dir(folder) as tmp:
            faiss.write_index(self.index, str(tmp / _FILES[0]))
            np.savez(tmp / _FILES[1], track=self.window_track, offset=self.window_offset)
            (tmp / _FILES[2]).write_text(json.dumps({"hop_s": self.hop_s, "kind": self.kind, "encoder": self.encoder,
                                                     "tracks": self.tracks}, indent=1) + "\n")
        return (Path(folder) / _FILES[0]).stat().st_size

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
        return cls(faiss.read_index(str(folder / _FILES[0])), windows["track"], windows["offset"], meta["tracks"],
                   float(meta["hop_s"]), meta["kind"], str(meta.get("encoder", "")))

    def rank(self, encoder: Any, audio: np.ndarray, k: int = NEIGHBOURS, rescore: int = RESCORE) -> list[Match]:
        """Catalog tracks ranked for mono ``audio`` (at the encoder's rate); tracks never hit are left out. The
        ``rescore`` best-voted tracks come first, ranked by their aligned similarity over the whole query (0: rank
        by the votes alone). Raises ``ValueError`` when the index records another encoder than ``encoder``
        (embeddings would not match)."""
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
        best: dict[int, tuple[float, int]] = {}
        for (track, align), per_query in votes.items():
            score = sum(per_query.values()) / len(queries)
            if score > best.get(track, (-np.inf, 0))[0]:
                best[track] = (score, align)
        ranked = sorted(best.items(), key=lambda item: -item[1][0])
        # (track, score, first window's shift in hops): the shortlist scored on the whole query, then the rest
        head = sorted((self._aligned(queries, t, 2 * a) for t, (_, a) in ranked[:rescore]), key=lambda r: -r[1])
        tail = [(t, s, 2 * a) for t, (s, a) in ranked[rescore:]]
        order = head + tail
        top = [*sorted((s for _, s, _ in order), reverse=True)[:2], 0.0, 0.0]  # best and runner-up
        return [Match(self.tracks[t]["track"], self.tracks[t]["title"], self.tracks[t]["isrc"], s,
                      max(0.0, shift * self.hop_s), s - (top[1] if i == 0 else top[0]))
                for i, (t, s, shift) in enumerate(order)]

    def _aligned(self, queries: np.ndarray, track: int, shift: int) -> tuple[int, float, int]:
        """``(track, score, shift)``: the mean similarity of every query window j to the track's window
        ``shift + j`` (windows outside the track count 0), at the best shift within one hop of ``shift``."""
        first, count = int(self._bounds[track]), int(self._bounds[track + 1] - self._bounds[track])
        lo, hi = max(0, shift - 1), min(count, shift + 1 + len(queries))
        if hi <= lo:
            return track, 0.0, shift
        refs = self._vectors(first + lo, hi - lo)
        best = (-np.inf, shift)
        for d in (shift - 1, shift, shift + 1):
            j = np.arange(max(0, -d), min(len(queries), count - d))
            total = float(np.einsum("ij,ij->", queries[j], refs[d + j - lo])) if j.size else 0.0
            best = max(best, (total / len(queries), d))
        return track, best[0], best[1]

    def _vectors(self, first: int, count: int) -> np.ndarray:
        """Stored embeddings of windows ``first … first + count − 1`` (IVF-PQ: their quantized values)."""
        if self.kind == "exact":
            return np.asarray(self.index.reconstruct_n(first, count), np.float32)
        if not self._direct_map:
            import faiss

            faiss.extract_index_ivf(self.index).make_direct_map()
            self._direct_map = True
        # by id through the direct map: IndexIVF.reconstruct_n scans every list (seconds at 10,000 h)
        return np.asarray(self.index.reconstruct_batch(np.arange(first, first + count, dtype=np.int64)), np.float32)
