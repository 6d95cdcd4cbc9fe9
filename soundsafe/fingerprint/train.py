"""Training the fingerprint encoder: clean windows against concert-degraded views of themselves.

Each step draws ``batch`` windows from distinct training tracks (a ``hard_share`` of them are a random track's
nearest neighbours by chroma and tempo: confusable negatives), cuts each window's degraded view at a small random
time offset (queries never align with the index grid), runs it through the registry's differentiable
``concert`` attack (venue reverb, crowd at −10…+10 dB SNR, EQ, compression, saturation, pitch drift) and pulls
the two views together with the chosen loss. Validation is retrieval: degraded windows of held-out tracks
against their clean windows (top-1 at 0 dB SNR); the best model is kept and training stops early when it stalls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from soundsafe.attacks import apply_attack
from soundsafe.attacks.concert import CONCERT_SNRS
from soundsafe.fingerprint.config import FingerprintConfig
from soundsafe.fingerprint.data import Track, descriptors, load_tracks, nearest_tracks, random_window
from soundsafe.fingerprint.losses import LOSSES
from soundsafe.fingerprint.model import FingerprintEncoder, build_encoder, save_encoder
from soundsafe.fingerprint.views import SEEDS_PER_POOL, VALIDATION_SEED, PoolSpec, ViewPool
from soundsafe.params import section_spec
from soundsafe.progress import progress

__all__ = ["TrainSpec", "retrieval_top1", "train_encoder", "validation_queries"]

_VALIDATION_CACHE: dict[tuple[Any, ...], tuple[torch.Tensor, np.ndarray]] = {}


@dataclass(frozen=True)
class TrainSpec:
    """``params.yaml: fingerprint_train``."""

    steps: int = 400
    batch: int = 32
    lr: float = 1e-3
    schedule: str = "constant"  # constant | cosine (decays lr to 0 over ``steps``)
    loss: str = "ntxent"
    temperature: float = 0.1
    hard_share: float = 0.25  # share of a batch that is one track's nearest neighbours by descriptor
    max_offset_s: float = 0.125  # half the index hop: how far a query window can sit from an index window
    groups: int = 4  # degradation strengths per batch (the chain takes one SNR per call)
    pool_crowds: int = 64  # crowds (8 s each) and impulse responses per venue in the changing pool
    pool_rooms: int = 8
    pool_refresh: float = 0.25  # crowds and impulse responses each replaced per step (on average)
    val_every: int = 100
    val_queries: int = 48
    patience: int = 4  # validations without improvement before stopping
    seed: int = 0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainSpec:
        spec = section_spec(cls, params, "fingerprint_train")
        if spec.schedule not in ("constant", "cosine"):
            raise ValueError(f"fingerprint_train.schedule must be 'constant' or 'cosine', got {spec.schedule!r}")
        if spec.loss not in LOSSES:
            raise ValueError(f"fingerprint_train.loss must be one of {sorted(LOSSES)}, got {spec.loss!r}")
        return spec


def _degrade(views: torch.Tensor, pool: ViewPool, groups: int, rng: np.random.Generator,
             generator: torch.Generator) -> torch.Tensor:
    """Concert degradation at a spread of SNRs: the batch is split into ``groups``, each with its own SNR."""
    with torch.no_grad():  # the views are data: nothing learns through the degradation
        return torch.cat([pool.degrade(part, float(CONCERT_SNRS[int(rng.integers(len(CONCERT_SNRS)))]), rng,
                                       generator) for part in torch.tensor_split(views, min(groups, len(views)))])


def _batch(tracks: list[Track], neighbours: np.ndarray, spec: TrainSpec, config: FingerprintConfig,
           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clean windows, their shifted (not yet degraded) views, and track labels."""
    count = min(spec.batch, len(tracks))
    seed_track = int(rng.integers(len(tracks)))
    hard = [seed_track, *neighbours[seed_track][: max(0, round(spec.hard_share * count) - 1)]]
    rest = rng.permutation([i for i in range(len(tracks)) if i not in hard])
    chosen = [*hard, *rest][:count]
    n, shift = config.window_samples, round(spec.max_offset_s * config.sample_rate)
    clean, shifted = [], []
    for i in chosen:
        window = random_window(tracks[i], n + 2 * shift, rng)
        offset = int(rng.integers(0, 2 * shift + 1))
        clean.append(window[shift: shift + n])
        shifted.append(window[offset: offset + n])
    return (torch.from_numpy(np.stack(clean)), torch.from_numpy(np.stack(shifted)), torch.tensor(chosen))


def validation_queries(tracks: list[Track], queries: int, strength: str, sample_rate: int, window: int,
                       seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """``queries`` random windows of ``tracks`` degraded by the evaluation's ``concert`` at ``strength`` (a new
    room and crowd each, seeded from :data:`~soundsafe.fingerprint.views.VALIDATION_SEED`), and the track each
    came from. Cached: validation asks for the same ones every time."""
    key = (tuple(t.track_id for t in tracks), queries, strength, sample_rate, window, seed)
    if key not in _VALIDATION_CACHE:
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(tracks), queries)
        degraded = [apply_attack("concert", random_window(tracks[i], window, rng)[:, None], sample_rate, strength,
                                 seed=VALIDATION_SEED + seed * queries + q)[:, 0] for q, i in enumerate(picks)]
        _VALIDATION_CACHE.clear()  # one set at a time: a run validates on one
        _VALIDATION_CACHE[key] = (torch.from_numpy(np.stack(degraded).astype(np.float32)), picks)
    return _VALIDATION_CACHE[key]


@torch.no_grad()
def retrieval_top1(encoder: FingerprintEncoder, tracks: list[Track], queries: int, strength: str,
                   seed: int = 0) -> float:
    """Top-1 track accuracy of degraded windows (:func:`validation_queries`, one window each) against every clean
    window (0.25 s hop)."""
    c = encoder.config
    n, hop = c.window_samples, c.sample_rate // 4
    degraded, picks = validation_queries(tracks, queries, strength, c.sample_rate, n, seed)
    encoder.eval()
    refs, owners = [], []
    for i, t in enumerate(tracks):
        starts = range(0, max(1, t.audio.size - n + 1), hop)
        windows = np.stack([np.pad(t.audio[s: s + n], (0, max(0, n - t.audio[s: s + n].size))) for s in starts])
        refs.append(encoder(torch.from_numpy(windows)))
        owners += [i] * len(windows)
    catalog, owner = torch.cat(refs), torch.tensor(owners)
    hits = owner[(encoder(degraded) @ catalog.T).argmax(1)]
    encoder.train()
    return float((hits == torch.from_numpy(picks)).float().mean())


def train_encoder(spec: TrainSpec, config: FingerprintConfig, manifest: Path, out_dir: Path,
                  log: Callable[[dict[str, float], int], None] | None = None,
                  init: FingerprintEncoder | None = None,
                  penalty: Callable[[FingerprintEncoder], torch.Tensor] | None = None) -> dict[str, float]:
    """Train; ``out_dir/model.pt`` is the best encoder by validation top-1. Returns the training metrics.
    ``init``: fine-tune this encoder (its config wins) instead of a fresh one; ``penalty``: a term added to the
    loss (e.g. the ownership mark's regulariser)."""
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    generator = torch.Generator().manual_seed(spec.seed)
    train = load_tracks(manifest, ["train"], config.sample_rate)
    held_out = load_tracks(manifest, ["val"], config.sample_rate)
    if len(train) < 2:
        raise ValueError(f"{manifest}: fingerprint training needs ≥ 2 training tracks, found {len(train)}")
    pool = ViewPool(PoolSpec(crowds=spec.pool_crowds, rooms=spec.pool_rooms, crowd_refresh=spec.pool_refresh,
                             room_refresh=spec.pool_refresh), config.sample_rate, first_seed=spec.seed * SEEDS_PER_POOL)
    neighbours = nearest_tracks(descriptors(train, config.sample_rate), k=spec.batch)
    encoder = build_encoder(config) if init is None else init.train()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=spec.lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec.steps)
                 if spec.schedule == "cosine" else None)
    loss_fn = LOSSES[spec.loss]
    kwargs = {"temperature": spec.temperature} if spec.loss != "triplet" else {}
    best, stale, history = -math.inf, 0, []
    started, seen, step = time.perf_counter(), 0, 0
    bar = progress(range(spec.steps), desc="train fingerprint", total=spec.steps, unit="step")
    for step in bar:
        clean, shifted, labels = _batch(train, neighbours, spec, config, rng)
        pool.refresh(rng)
        degraded = _degrade(shifted, pool, spec.groups, rng, generator)
        z = encoder(torch.stack([clean, degraded], dim=1).reshape(-1, clean.shape[1]))  # rows 2i, 2i+1: a pair
        loss = loss_fn(z, labels.repeat_interleave(2), **kwargs)
        if penalty is not None:
            loss = loss + penalty(encoder)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        seen += len(clean)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        last = step + 1 == spec.steps
        if (step + 1) % spec.val_every == 0 or last:
            top1 = retrieval_top1(encoder, held_out or train, spec.val_queries, "+0dB", seed=spec.seed)
            metrics = {"loss": float(loss.detach()), "val_top1_0db": top1}
            history.append({"step": step + 1, **metrics})
            if log:
                log(metrics, step + 1)
            if top1 > best:
                best, stale = top1, 0
                save_encoder(out_dir / "model.pt", encoder, step=step + 1, spec=asdict(spec))
            else:
                stale += 1
                if stale >= spec.patience:
                    break
    seconds = time.perf_counter() - started
    return {"steps": float(step + 1), "best_val_top1_0db": best, "final_loss": float(loss.detach()),
            "seconds_per_step": seconds / (step + 1), "windows_per_second": 2 * seen / seconds,
            "parameters": float(encoder.parameter_count()), "train_tracks": float(len(train)),
            "crowds_heard": float(pool.crowds_made), "rooms_heard": float(pool.rooms_made)}
