"""The key of a white-box model mark and the payload it carries.

A key is a 256-bit secret plus the name of the layer that carries the mark and the insertion margin. The secret
seeds the projection (who lacks it cannot read or aim at the mark) and fixes a 32-bit tag. The payload is
owner ID (32 bits) + model ID (32 bits) + tag (32 bits): 96 bits; a model carries this key's mark when its tag
reads back with at most :data:`TAG_ERRORS` errors. For a model without the mark every read bit is a fair coin
(the projection of fixed weights on a random Gaussian direction is symmetric), so the chance that an unmarked
model passes is P(Bin(32, ½) ≥ 30) = 529 / 2³² = 1.2e-7.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundsafe.atomic import atomic_path

__all__ = ["FIELD_BITS", "KEY_ENV", "PAYLOAD_BITS", "TAG_BITS", "TAG_ERRORS", "NnwKey", "false_positive_rate",
           "pack_payload", "pipeline_key", "unpack_payload"]

FIELD_BITS = 32  # owner ID and model ID, each
TAG_BITS = 32
PAYLOAD_BITS = 2 * FIELD_BITS + TAG_BITS
TAG_ERRORS = 2  # tag bits allowed wrong for "mark found"
KEY_ENV = "SOUNDSAFE_NNW_KEY"  # the pipeline's key file, when set (else a public demo key)


@dataclass(frozen=True)
class NnwKey:
    """A white-box mark's key: the secret, the layer (parameter name) that carries it, the margin (in units of the
    projection's spread over unmarked weights) inserted beyond each bit's sign."""

    secret: str  # 64 hex digits
    layer: str
    margin: float = 1.5

    @classmethod
    def generate(cls, layer: str, margin: float = 1.5) -> NnwKey:
        return cls(secrets.token_hex(32), layer, margin)

    def __post_init__(self) -> None:
        if len(self.secret) != 64 or any(c not in "0123456789abcdef" for c in self.secret):
            raise ValueError("an NNW key's secret is 64 lowercase hex digits; make a key with `soundsafe nnw keygen`")
        if not self.margin > 0:
            raise ValueError(f"an NNW key's margin must be > 0, got {self.margin}")

    def seed(self, purpose: str) -> int:
        return int.from_bytes(hashlib.sha256(f"{purpose}:{self.secret}".encode()).digest()[:8], "big")

    def tag(self) -> np.ndarray:
        """The key's 32 tag bits (0/1)."""
        return np.random.default_rng(self.seed("tag")).integers(0, 2, TAG_BITS).astype(np.uint8)

    def projection(self, size: int) -> np.ndarray:
        """``(PAYLOAD_BITS, size)`` secret directions, unit rows (float32, read-only; cached: drawing them takes
        ~0.1 s for a 73,728-weight layer and an evaluation reads the same key many times)."""
        return _projection(self.seed("projection"), size)

    def save(self, path: str | os.PathLike[str]) -> None:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps({"secret": self.secret, "layer": self.layer, "margin": self.margin},
                                            indent=1) + "\n")
        os.chmod(path, 0o600)  # a secret

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NnwKey:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no NNW key file (make one with `soundsafe nnw keygen {path}`)")
        try:
            data = json.loads(path.read_text())
            return cls(str(data["secret"]), str(data["layer"]), float(data.get("margin", 1.5)))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not an NNW key file (JSON with secret, layer, margin): {e}") from e


@functools.lru_cache(maxsize=8)
def _projection(seed: int, size: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((PAYLOAD_BITS, size), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x.flags.writeable = False
    return x


def pack_payload(owner: int, model: int, key: NnwKey) -> np.ndarray:
    """The 96 payload bits (0/1): owner ID, model ID (each < 2³², most significant bit first), then the tag."""
    for name, value in (("owner", owner), ("model", model)):
        if not 0 <= value < 2**FIELD_BITS:
            raise ValueError(f"the {name} ID must be in 0 … 2^{FIELD_BITS} − 1, got {value}")
    bits = [(v >> (FIELD_BITS - 1 - i)) & 1 for v in (owner, model) for i in range(FIELD_BITS)]
    return np.concatenate([np.array(bits, np.uint8), key.tag()])


def unpack_payload(bits: np.ndarray) -> tuple[int, int, np.ndarray]:
    """``(owner, model, tag bits)`` of 96 payload bits."""
    def field(b: np.ndarray) -> int:
        return int("".join(str(int(x)) for x in b), 2)

    return field(bits[:FIELD_BITS]), field(bits[FIELD_BITS: 2 * FIELD_BITS]), bits[2 * FIELD_BITS:]


def false_positive_rate(errors: int = TAG_ERRORS, bits: int = TAG_BITS) -> float:
    """P(an unmarked model's fair-coin tag reads back with ≤ ``errors`` errors)."""
    return sum(math.comb(bits, e) for e in range(errors + 1)) / 2**bits


def pipeline_key(layer: str, margin: float, seed: int) -> tuple[NnwKey, str]:
    """The key the pipeline's ``nnw_mark``/``nnw_evaluate`` steps use, and where it came from: the key file named
    by ``$SOUNDSAFE_NNW_KEY`` ("env"), else a *demo* key derived from ``seed`` ("demo": anyone can rebuild it, so
    it proves nothing; fine for measuring, never for a shipped model)."""
    path = os.environ.get(KEY_ENV)
    if path:
        return NnwKey.load(path), "env"
    secret = hashlib.sha256(f"soundsafe-demo-nnw-key:{seed}".encode()).hexdigest()
    return NnwKey(secret, layer, margin), "demo"
