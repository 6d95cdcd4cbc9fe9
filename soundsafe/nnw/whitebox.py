"""A white-box mark: a keyed secret projection of one layer's weights carries the payload.

Uchida et al. (2017) embed bits b in a layer's weights w with a regulariser during training, so that
sigmoid(X·w) ≈ b for a secret Gaussian matrix X, and read them back as the signs of X·w. Here:

- X projects the layer's whole weight tensor with each output channel scaled to unit norm (not Uchida's mean over
  channels): exporters fold a BatchNorm into the convolution before it, multiplying each output channel by a
  positive factor (ONNX export does this to the fingerprint encoder), and ReLU networks allow that rescaling
  freely; the mark does not move when it happens. Over n weights, independent perturbations (noise, pruning,
  quantization) reach a projection only as their norm over √n.
- Insertion is closed form: the smallest change of the channel-normalized weights (least squares) that puts every
  bit's projection ``margin`` spreads beyond its sign, one spread being the projection's standard deviation over
  unmarked weights (1/√fan-in). No training loop, and a known robustness radius; a short fine-tune on the task
  afterwards can win back what the change cost (the ``nnw_mark`` step).

Reading needs only the weights (a torch checkpoint or the ONNX file) and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from soundsafe.nnw.key import PAYLOAD_BITS, TAG_ERRORS, NnwKey, false_positive_rate, unpack_payload

__all__ = ["Verification", "insert", "projections", "signal", "verification", "verify", "verify_state"]

_OVERSHOOT = 1.05  # aim past the margin: renormalizing the channels takes a little back


def signal(weight: np.ndarray) -> np.ndarray:
    """The weights as the mark sees them: each output channel (first axis) at unit norm, flattened (float64)."""
    w = np.asarray(weight, np.float64).reshape(len(weight), -1)
    return (w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)).ravel()


def _spread(weight: np.ndarray) -> float:
    """The standard deviation of a unit projection of an unmarked layer's signal: √(channels / weights)."""
    return float(np.sqrt(len(weight) / np.asarray(weight).size))


def projections(weight: np.ndarray, key: NnwKey) -> np.ndarray:
    """The payload bits' projections in spreads (sign = bit; an unmarked layer gives about N(0, 1) each)."""
    v = signal(weight)
    # float32 products (the matrix is 96 × the layer's size); a sign this close to 0 is a coin either way
    return (key.projection(v.size) @ v.astype(np.float32)).astype(np.float64) / _spread(weight)


def insert(weight: np.ndarray, key: NnwKey, payload: np.ndarray, iterations: int = 20) -> np.ndarray:
    """``weight`` changed as little as possible so each payload bit's projection sits ``key.margin`` spreads beyond
    its sign; each output channel keeps its norm. Raises ``ValueError`` when the layer is too small to hold the
    payload at that margin (fewer weights than bits, or the change would not converge)."""
    weight = np.asarray(weight)
    if weight.ndim < 2 or weight.size < 4 * PAYLOAD_BITS:
        raise ValueError(f"a layer of shape {weight.shape} ({weight.size} weights) is too small to carry a "
                         f"{PAYLOAD_BITS}-bit mark (it needs ≥ {4 * PAYLOAD_BITS} weights in ≥ 2 dimensions)")
    if payload.shape != (PAYLOAD_BITS,):
        raise ValueError(f"the payload is {PAYLOAD_BITS} bits, got shape {payload.shape}")
    rows = weight.reshape(len(weight), -1).astype(np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    x = key.projection(rows.size).astype(np.float64)
    gram = x @ x.T
    sign = 2.0 * payload.astype(np.float64) - 1.0
    spread = _spread(weight)
    v = signal(weight)
    for _ in range(iterations):
        short = np.maximum(0.0, _OVERSHOOT * key.margin - sign * (x @ v) / spread)
        if not (short > (_OVERSHOOT - 1) * key.margin).any():
            break
        v = signal((v + x.T @ np.linalg.solve(gram, sign * short * spread)).reshape(rows.shape))
    marked = (v.reshape(rows.shape) * norms).reshape(weight.shape).astype(weight.dtype)
    reached = float((sign * projections(marked, key)).min())
    if reached < key.margin * 0.99:
        raise ValueError(f"could not reach a margin of {key.margin} spreads in a layer of shape {weight.shape} "
                         f"(reached {reached:.2f}): pick a larger layer or a smaller margin")
    return marked


@dataclass(frozen=True)
class Verification:
    """What a model's weights say under a key."""

    found: bool  # the tag read back with ≤ TAG_ERRORS errors
    owner: int
    model: int
    tag_errors: int
    p_value: float  # chance that an unmarked model's tag reads this well
    strength: float  # the weakest tag bit's projection toward its value, in spreads (negative: a wrong bit)

    def to_dict(self) -> dict[str, object]:
        return {"found": self.found, "owner": self.owner, "model": self.model, "tag_errors": self.tag_errors,
                "p_value": self.p_value, "strength": round(self.strength, 3)}


def verify(weight: np.ndarray, key: NnwKey) -> Verification:
    """Read the payload from ``weight`` and test its tag against ``key``'s."""
    return verification(projections(weight, key), key)


def verification(p: np.ndarray, key: NnwKey) -> Verification:
    """The payload and tag test of projections ``p`` (in spreads) under ``key`` (shared by both marks)."""
    bits = (p > 0).astype(np.uint8)
    owner, model, tag = unpack_payload(bits)
    expected = key.tag()
    errors = int((tag != expected).sum())
    toward = (2.0 * expected - 1.0) * p[-len(expected):]
    return Verification(errors <= TAG_ERRORS, owner, model, errors, false_positive_rate(errors),
                        float(toward.min()))


def verify_state(state: dict[str, np.ndarray], key: NnwKey, source: str = "model") -> tuple[Verification, str, int]:
    """``(verification, layer read, layers tried)`` for a model's ``{name: array}``: the key's layer when the
    model has it, else (an exporter renamed it) every layer that could carry a mark, the best one reported with its
    p-value multiplied by the number tried and "found" only if that stays within the single-layer rate."""
    if key.layer in state:
        return verify(state[key.layer], key), key.layer, 1
    names = [n for n, w in state.items() if np.asarray(w).ndim >= 2 and np.asarray(w).size >= 4 * PAYLOAD_BITS]
    if not names:
        raise ValueError(f"{source}: no layer {key.layer!r} and no other layer large enough to carry a mark")
    results = {n: verify(state[n], key) for n in names}
    name = min(results, key=lambda n: (results[n].tag_errors, -results[n].strength))
    best = results[name]
    p_value = min(1.0, best.p_value * len(names))
    return replace(best, found=p_value <= false_positive_rate(), p_value=p_value), name, len(names)
