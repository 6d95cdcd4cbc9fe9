"""MPAI-NNW's evaluation of the white-box mark on the fingerprint encoder: imperceptibility, robustness, cost.

- Imperceptibility: the task (Top-1 of concert-degraded 1 s windows against the clean windows of held-out tracks)
  of the marked vs the unmarked encoder on the same queries, with the paired difference's 95 % interval.
- Robustness: for each modification and strength, the marked encoder's payload bit errors, the task quality
  left, the detector's true-positive rate over several marked encoders (different keys and payloads) and its
  false-positive rate over unmarked ones (the trained encoder and freshly initialised ones) under the same
  modification.
- The statistic's distribution on unmarked models: tag errors over random-init encoders (seeds), perturbed
  copies of the unmarked encoder, and wrong keys, beside the Binomial(32, ½) that the false-positive rate assumes.
- Cost: insertion and verification time, the detector's memory, inference time marked vs unmarked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from soundsafe.attacks import apply_training_attack
from soundsafe.fingerprint.config import FingerprintConfig
from soundsafe.fingerprint.data import Track, random_window
from soundsafe.fingerprint.model import FingerprintEncoder, build_encoder
from soundsafe.nnw import attacks, blackbox
from soundsafe.nnw.key import PAYLOAD_BITS, TAG_BITS, NnwKey, pack_payload
from soundsafe.nnw.whitebox import insert, projections, verification, verify
from soundsafe.params import section_spec

__all__ = ["EvalSpec", "QualityBench", "Variant", "binomial_pmf", "detector_bytes", "distill", "encoder_from_state",
           "mark_variants", "modifications", "paired_difference", "random_key", "read", "read_blackbox", "state_of",
           "timed", "torch_embed", "unmarked_blackbox", "unmarked_distribution"]

State = dict[str, np.ndarray]
Embed = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class EvalSpec:
    """``params.yaml: nnw_evaluate``."""

    splits: list[str] = field(default_factory=lambda: ["test"])  # the task's tracks: never trained on
    quality_seconds: float = 60.0  # the middle this many seconds of each track is its catalogue entry
    queries: int = 600
    snr: str = "+0dB"  # the concert degradation of the queries
    noise_sigmas: list[float] = field(default_factory=lambda: [0.01, 0.05, 0.1, 0.2, 0.5])
    prune: list[float] = field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 0.9])
    quant_bits: list[int] = field(default_factory=lambda: [8, 6, 4])
    payloads: int = 4  # marked encoders (different keys and payloads) for the true-positive rate
    attack_unmarked: int = 8  # random-init unmarked encoders per modification for the false-positive rate
    unmarked_seeds: int = 100  # random-init encoders in the statistic's distribution
    perturbations: int = 100  # noisy copies of the unmarked encoder in the distribution
    wrong_keys: int = 1000  # other keys read on the unmarked and on the marked encoder
    # attacks that train, in epochs (one 1 s window pair per second of training audio, at fingerprint_train's
    # batch); at least one step each when > 0
    finetune_epochs: float = 5.0  # fine-tuning without the key (clean task loss only, fingerprint_train's lr)
    distill_epochs: float = 1.0  # a fresh student trained to match the marked encoder's embeddings
    seed: int = 0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvalSpec:
        return section_spec(cls, params, "nnw_evaluate")


def state_of(encoder: FingerprintEncoder) -> State:
    return {k: v.detach().cpu().numpy().copy() for k, v in encoder.state_dict().items()}


def encoder_from_state(config: FingerprintConfig, state: State) -> FingerprintEncoder:
    encoder = build_encoder(config)
    encoder.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    return encoder.eval()


def torch_embed(encoder: FingerprintEncoder) -> Embed:
    def embed(windows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return encoder(torch.from_numpy(windows)).numpy()
    return embed


class QualityBench:
    """Concert-degraded query windows and the clean catalogue windows (0.25 s hop) of ``tracks``, made once, so
    every model is measured on the same queries."""

    def __init__(self, tracks: list[Track], config: FingerprintConfig, spec: EvalSpec) -> None:
        n, hop, keep = config.window_samples, config.sample_rate // 4, round(spec.quality_seconds * config.sample_rate)
        cropped = []
        for t in tracks:
            start = max(0, (t.audio.size - keep) // 2)
            cropped.append(Track(t.track_id, t.title, t.isrc, t.audio[start: start + keep]))
        windows, owners = [], []
        for i, t in enumerate(cropped):
            for s in range(0, max(1, t.audio.size - n + 1), hop):
                w = t.audio[s: s + n]
                windows.append(np.pad(w, (0, n - w.size)))
                owners.append(i)
        self.catalogue, self.owners = np.stack(windows).astype(np.float32), np.array(owners)
        rng = np.random.default_rng(spec.seed)
        self.truth = rng.integers(0, len(cropped), spec.queries)
        clean = torch.from_numpy(np.stack([random_window(cropped[i], n, rng) for i in self.truth]))
        generator = torch.Generator().manual_seed(spec.seed)
        self.queries = apply_training_attack("concert", clean[:, None], config.sample_rate, spec.snr,
                                             generator)[:, 0].numpy().astype(np.float32)

    def embed(self, embed: Embed, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(query embeddings, catalogue embeddings)`` of a model."""
        def run(x: np.ndarray) -> np.ndarray:
            return np.concatenate([embed(x[i: i + batch]) for i in range(0, len(x), batch)])

        return run(self.queries), run(self.catalogue)

    def hits(self, embed: Embed) -> np.ndarray:
        """Per query: whether its nearest catalogue window belongs to its track."""
        return self.hits_of(*self.embed(embed))

    def hits_of(self, queries: np.ndarray, catalogue: np.ndarray) -> np.ndarray:
        """:meth:`hits` from embeddings already made by :meth:`embed`."""
        return self.owners[(queries @ catalogue.T).argmax(axis=1)] == self.truth


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(mean(a) − mean(b), half-width of its 95 % interval)`` for paired 0/1 outcomes on the same queries."""
    d = a.astype(float) - b.astype(float)
    return float(d.mean()), float(1.96 * d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0


@dataclass(frozen=True)
class Variant:
    """A marked encoder's weights with the key and payload it carries."""

    state: State
    key: NnwKey
    payload: np.ndarray


def read(state: State, variant: Variant) -> dict[str, float]:
    """The payload's bit errors, the tag's, found, and the weakest tag bit's strength, of ``state`` under the
    variant's key."""
    p = projections(state[variant.key.layer], variant.key)
    bits = (p > 0).astype(np.uint8)
    result = verification(p, variant.key)
    return {"bit_errors": float((bits != variant.payload).sum()), "tag_errors": float(result.tag_errors),
            "found": float(result.found), "weakest_tag_bit": result.strength}


def read_blackbox(embed: Embed, variant: Variant, config: FingerprintConfig) -> dict[str, float]:
    """The black-box payload read through ``embed``: bit errors, tag errors, found, weakest tag bit."""
    p = blackbox.projections(embed, variant.key, config.window_samples, config.sample_rate)
    result = verification(p, variant.key)
    return {"bb_bit_errors": float(((p > 0).astype(np.uint8) != variant.payload).sum()),
            "bb_tag_errors": float(result.tag_errors), "bb_found": float(result.found),
            "bb_weakest_tag_bit": result.strength}


def unmarked_blackbox(config: FingerprintConfig, unmarked: Embed, marked: Embed, key: NnwKey, spec: EvalSpec
                      ) -> dict[str, np.ndarray]:
    """The black-box statistic where the key's trigger mark is not: random-init encoders under the key, the
    unmarked and the marked encoder under wrong keys (at most 200 of them: each costs 96 forward windows)."""
    n, sr = config.window_samples, config.sample_rate
    rng = np.random.default_rng(spec.seed + 29)
    errors: dict[str, list[int]] = {"random-init seeds": [], "wrong keys (unmarked)": [], "wrong keys (marked)": []}
    z: list[np.ndarray] = []
    for seed in range(spec.unmarked_seeds):
        torch.manual_seed(20_000 + seed)
        p = blackbox.projections(torch_embed(build_encoder(config).eval()), key, n, sr)
        errors["random-init seeds"].append(verification(p, key).tag_errors)
        z.append(p)
    for _ in range(min(spec.wrong_keys, 200)):
        k = random_key(rng, key.layer, key.margin)
        p = blackbox.projections(unmarked, k, n, sr)
        errors["wrong keys (unmarked)"].append(verification(p, k).tag_errors)
        z.append(p)
        errors["wrong keys (marked)"].append(blackbox.verify(marked, k, n, sr).tag_errors)
    return {**{g: np.array(e) for g, e in errors.items()}, "z": np.concatenate(z) if z else np.zeros(0)}


def modifications(spec: EvalSpec) -> Iterator[tuple[str, float, Callable[[State, np.random.Generator], State]]]:
    """``(attack, strength, modify(state, rng))`` for the weight-level modifications of the grid."""
    yield "none", 0.0, lambda s, _: s
    for sigma in spec.noise_sigmas:
        yield "gaussian_noise", sigma, lambda s, rng, sigma=sigma: attacks.gaussian_noise(s, sigma, rng)
    for fraction in spec.prune:
        yield "l1_prune", fraction, lambda s, _, f=fraction: attacks.l1_prune(s, f)
    for fraction in spec.prune:
        yield "random_prune", fraction, lambda s, rng, f=fraction: attacks.random_prune(s, f, rng)
    for bits in spec.quant_bits:
        yield "fake_quant_bits", float(bits), lambda s, _, b=bits: attacks.fake_quant(s, b)


def mark_variants(state: State, layer: str, margin: float, count: int, seed: int) -> list[Variant]:
    """``count`` marks of unmarked ``state``, each with a fresh key and a random payload (closed form)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        k = random_key(rng, layer, margin)
        p = pack_payload(int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)), k)
        out.append(Variant({**state, layer: insert(state[layer], k, p)}, k, p))
    return out


def random_key(rng: np.random.Generator, layer: str, margin: float) -> NnwKey:
    return NnwKey(rng.bytes(32).hex(), layer, margin)


def unmarked_distribution(config: FingerprintConfig, unmarked: State, marked: Variant, spec: EvalSpec
                          ) -> dict[str, np.ndarray]:
    """Tag errors (out of 32) read where no mark of the key is: random-init encoders under the key, noisy copies
    (σ = 0.1) of the unmarked encoder under the key, the unmarked and the marked encoder under wrong keys; and
    the payload projections of the independent cases (z-scores, ~N(0, 1) if the model holds)."""
    key, layer = marked.key, marked.key.layer
    rng = np.random.default_rng(spec.seed + 17)
    errors: dict[str, list[int]] = {"random-init seeds": [], "noisy copies (σ = 0.1)": [],
                                    "wrong keys (unmarked)": [], "wrong keys (marked)": []}
    z: list[np.ndarray] = []

    def note(group: str, weight: np.ndarray, k: NnwKey, independent: bool = True) -> None:
        p = projections(weight, k)
        errors[group].append(verification(p, k).tag_errors)
        if independent:  # noisy copies repeat the unmarked encoder's reading: they would fail any normality test
            z.append(p)

    for seed in range(spec.unmarked_seeds):
        torch.manual_seed(10_000 + seed)
        note("random-init seeds", build_encoder(config).state_dict()[layer].numpy(), key)
    for _ in range(spec.perturbations):
        note("noisy copies (σ = 0.1)", attacks.gaussian_noise({layer: unmarked[layer]}, 0.1, rng)[layer], key,
             independent=False)
    for _ in range(spec.wrong_keys):
        k = random_key(rng, layer, key.margin)
        note("wrong keys (unmarked)", unmarked[layer], k)
        errors["wrong keys (marked)"].append(verify(marked.state[layer], k).tag_errors)
    return {**{g: np.array(e) for g, e in errors.items()}, "z": np.concatenate(z) if z else np.zeros(0)}


def distill(teacher: Embed, config: FingerprintConfig, tracks: list[Track], steps: int, batch: int, lr: float,
            seed: int) -> FingerprintEncoder:
    """A fresh student trained only to reproduce ``teacher``'s embeddings (cosine) of clean and concert-degraded
    windows of ``tracks``: someone with the public interface (the ONNX file) and audio, not the weights."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    student = build_encoder(config).train()
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    strengths = ("+10dB", "+5dB", "+0dB", "-5dB")
    for step in range(steps):
        clean = torch.from_numpy(np.stack([random_window(tracks[int(i)], config.window_samples, rng)
                                           for i in rng.integers(0, len(tracks), batch)]))
        degraded = apply_training_attack("concert", clean[:, None], config.sample_rate,
                                         strengths[step % len(strengths)], generator)[:, 0]
        x = torch.cat([clean, degraded])
        target = torch.from_numpy(teacher(x.numpy()))
        loss = (1 - (student(x) * target).sum(dim=1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return student.eval()


def timed(fn: Callable[[], Any], repeats: int = 5) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def detector_bytes(weight: np.ndarray) -> int:
    """Memory the reader needs beyond the weights: the projection matrix (float32) and the channel-normalized
    signal (float64)."""
    return PAYLOAD_BITS * weight.size * 4 + weight.size * 8


def binomial_pmf(bits: int = TAG_BITS) -> np.ndarray:
    from math import comb

    return np.array([comb(bits, e) for e in range(bits + 1)]) / 2.0**bits
