"""The secret key: packet encryption (a keyed pseudorandom permutation) and truncated MAC tags.

Every packet's K bits go through a 4-round Feistel permutation keyed by the secret (BLAKE2b as the round
function). That whitens the bits the model carries and hides them: unlike XOR with a keystream, a
permutation leaks nothing when the plaintext of one track is known, so reading another track still needs
the key. Inside the permutation each packet carries a truncated keyed BLAKE2b tag over its header and body,
so forging a packet needs the key too, and a random K-bit word passes as a valid packet with probability
``2**-tag_bits`` (times the share of headers that are valid).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from soundsafe.atomic import write_text

__all__ = ["DEMO_KEY", "PayloadKey", "PayloadKeyError", "generate_key_file", "load_key"]

_MIN_KEY_BYTES = 16


class PayloadKeyError(ValueError):
    """A key that is missing, too short or unreadable."""


class PayloadKey:
    """A secret key and the subkeys derived from it (HMAC-SHA256 with a label per purpose)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < _MIN_KEY_BYTES:
            raise PayloadKeyError(
                f"key is {len(secret)} bytes; use at least {_MIN_KEY_BYTES} (make one: soundsafe payload keygen FILE)"
            )
        self._prp, self._tag, self._mac, carrier = (hmac.new(secret, label, hashlib.sha256).digest()
                                                    for label in (b"prp", b"packet-tag", b"block-mac", b"carrier"))
        # Seeds the watermark carrier's secret tile layout (which tile carries which bit, with which sign).
        self.carrier_seed = int.from_bytes(carrier[:8], "big") >> 1
        # A public identifier of the key, for logs and reports (it reveals nothing about the secret).
        self.fingerprint = hashlib.sha256(b"soundsafe-key-id" + secret).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"PayloadKey(id={self.fingerprint})"

    def _round(self, i: int, half: int, nbytes: int, mask: int) -> int:
        digest = hashlib.blake2b(half.to_bytes(nbytes, "big"), digest_size=16, key=self._prp,
                                 person=b"ss-prp-round" + bytes([i, nbytes])).digest()
        return int.from_bytes(digest, "big") & mask

    def encrypt(self, word: int, bits: int) -> int:
        """Keyed permutation of a ``bits``-bit integer (``bits`` even, at most 256)."""
        h = bits // 2
        mask, nbytes = (1 << h) - 1, (h + 7) // 8
        left, right = word >> h, word & mask
        for i in range(4):
            left, right = right, left ^ self._round(i, right, nbytes, mask)
        return (left << h) | right

    def decrypt(self, word: int, bits: int) -> int:
        """Inverse of :meth:`encrypt`."""
        h = bits // 2
        mask, nbytes = (1 << h) - 1, (h + 7) // 8
        left, right = word >> h, word & mask
        for i in reversed(range(4)):
            left, right = right ^ self._round(i, left, nbytes, mask), left
        return (left << h) | right

    def tag(self, message: bytes, bits: int) -> int:
        """A ``bits``-bit authentication tag of ``message``."""
        digest = hashlib.blake2b(message, digest_size=8, key=self._tag).digest()
        return int.from_bytes(digest, "big") >> (64 - bits)

    def mac(self, message: bytes) -> bytes:
        """A 32-bit MAC over a reassembled block of the extended payload."""
        return hashlib.blake2b(message, digest_size=4, key=self._mac).digest()


# A public key for demos and tests: it gives no secrecy; real deployments use `soundsafe payload keygen`.
DEMO_KEY = PayloadKey(hashlib.sha256(b"soundsafe public demo key - not secret").digest())


def load_key(path: str | Path | None) -> PayloadKey:
    """Read a key file (hex text, at least 32 hex digits, or raw bytes); ``None`` gives :data:`DEMO_KEY`."""
    if path is None:
        return DEMO_KEY
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PayloadKeyError(f"cannot read key file {path}: {exc.strerror}") from None
    text = raw.strip()
    try:
        secret = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        secret = raw
    return PayloadKey(secret)


def generate_key_file(path: str | Path) -> PayloadKey:
    """Write a new random 256-bit key as hex (owner-only permissions); refuses to overwrite."""
    path = Path(path)
    if path.exists():
        raise PayloadKeyError(f"{path} exists; refusing to overwrite a key (delete it first if you mean to)")
    secret = os.urandom(32)
    write_text(path, secret.hex() + "\n")
    path.chmod(0o600)
    return PayloadKey(secret)
