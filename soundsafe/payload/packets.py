"""Packets, forward error correction and the chunk schedule: a record → the K bits each audio chunk carries.

Every chunk of audio carries ``K = packet_bits`` bits in two superposed layers (halves of the K bits):

* **core layer** (the first ``K/2`` bits of every chunk) — the ISRC, the length of the rest and the code
  setting (64 bits) plus a keyed tag, as one codeword of ``core_period × K/2`` bits (96 at K=64: a 32-bit tag)
  cut into ``core_period`` segments; chunk ``p`` carries segment ``p mod core_period``. Any ``core_period``
  consecutive chunks hold the whole codeword, and so does a ``core_period``-chunk window at any offset: the
  partial chunks at its two edges carry the same segment (chunks ``n−1`` and ``n+2`` at period 3), which the
  detector reads from the tile rows each holds. Every copy is soft-combined, so longer reads are surer.
* **data layer** (the other ``K/2`` bits) — the rest of the serialized record (ISWC, title, artist, …) in
  K-bit data packets, each spread over the data halves of two consecutive chunks::

      header (8 bits: type 2, index 6) | body (K - 8 - tag_bits) | tag (tag_bits)

  in blocks, each ending in a 32-bit MAC bound to the core, protected by Reed–Solomon parity across packets
  (byte ``i`` of the ``k`` data packets of a block and of its ``p`` parity packets form one RS(k+p, k)
  codeword over GF(256)), so any ``p`` lost packets of a block are recovered. Blocks are interleaved packet
  by packet, so a burst of lost chunks is spread over blocks; the packets cycle, and the decoder sums repeats.

Both codewords are encrypted as a whole by the key's permutation (:mod:`.keys`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from reedsolo import RSCodec

from soundsafe.payload.keys import PayloadKey
from soundsafe.payload.serialize import (
    ISRC_BITS,
    canonical_record,
    pack_isrc,
    serialize,
)

__all__ = [
    "CORE_BITS",
    "CORE_FIELDS",
    "PARITY_CHOICES",
    "PRESETS",
    "TYPE_CORE",
    "TYPE_DATA",
    "BlockLayout",
    "CodeSettings",
    "CoreMessage",
    "EncodedPayload",
    "encode_payload",
]

TYPE_CORE, TYPE_DATA = 0, 1
HEADER_BITS = 8
INDEX_BITS = 6
MAC_BYTES = 4
CORE_FIELDS = ("isrc",)
_CORE_VERSION = 1
_LENGTH_BITS = 12  # extended payload length in bytes (the whole record is at most 3,474)
CORE_BITS = 1 + 2 + ISRC_BITS + _LENGTH_BITS  # version, parity, ISRC, length: 64
_MAX_TAG_BITS = 64  # PayloadKey.tag's widest tag; a longer core codeword pads with zeros (checked too)
MIN_CORE_TAG_BITS = 24
# Parity per data packet is one of four settings, so the core can say which one the embedder used.
PARITY_CHOICES = (0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class CodeSettings:
    """How a payload becomes chunk bits. ``packet_bits`` (K) is shared with the watermark model.

    ``parity`` (Reed–Solomon parity packets per data packet) travels in the core, so the decoder needs only
    ``packet_bits``, ``tag_bits`` and ``core_period``. ``tag_bits`` is the data packets' tag; the core's tag is
    what its codeword has left (:attr:`core_tag_bits`). ``chase_bits`` and ``core_chase_bits`` are decoder
    settings: how many of the least reliable bits of a data packet / of the core codeword soft decoding may flip.
    The core gets more: its 32-bit tag pays for 2⁹ flip patterns within the 10⁻⁶ false-ISRC bound, and a 3 s
    excerpt's core holds a segment read from two partial chunks, whose soft bits are the weakest of the read.
    """

    packet_bits: int = 64
    tag_bits: int = 24
    parity: float = 0.5
    core_period: int = 3
    chase_bits: int = 6
    core_chase_bits: int = 9

    def __post_init__(self) -> None:
        problems = []
        if self.packet_bits % 8 or not 48 <= self.packet_bits <= 256:
            problems.append(f"packet_bits must be a multiple of 8 from 48 to 256, got {self.packet_bits}")
        if self.tag_bits % 8 or not 16 <= self.tag_bits <= 32:
            problems.append(f"tag_bits must be 16, 24 or 32, got {self.tag_bits}")
        elif self.packet_bits - HEADER_BITS - self.tag_bits < 16:
            problems.append(f"packet_bits {self.packet_bits} leaves under 16 body bits beside an 8-bit header and "
                            f"a {self.tag_bits}-bit tag")
        if self.parity not in PARITY_CHOICES:
            problems.append(f"parity must be one of {PARITY_CHOICES}, got {self.parity}")
        if not 0 <= self.chase_bits <= 12:
            problems.append(f"chase_bits must be 0…12, got {self.chase_bits}")
        if not 0 <= self.core_chase_bits <= 12:
            problems.append(f"core_chase_bits must be 0…12, got {self.core_chase_bits}")
        if not problems and (self.core_period < 1 or self.core_codeword_bits - CORE_BITS < MIN_CORE_TAG_BITS):
            least = math.ceil((CORE_BITS + MIN_CORE_TAG_BITS) / self.core_layer_bits)
            problems.append(f"core_period {self.core_period} × {self.core_layer_bits} core-layer bits leaves under "
                            f"{MIN_CORE_TAG_BITS} tag bits beside the {CORE_BITS}-bit core: use core_period ≥ {least}")
        if problems:
            raise ValueError("invalid code settings: " + "; ".join(problems))

    @property
    def core_layer_bits(self) -> int:
        """Bits of every chunk that carry the core layer (the first half)."""
        return self.packet_bits // 2

    @property
    def data_layer_bits(self) -> int:
        """Bits of every chunk that carry the data layer (the second half): a data packet spans two chunks."""
        return self.packet_bits - self.core_layer_bits

    @property
    def core_codeword_bits(self) -> int:
        return self.core_period * self.core_layer_bits

    @property
    def core_tag_bits(self) -> int:
        return min(_MAX_TAG_BITS, self.core_codeword_bits - CORE_BITS)

    @property
    def core_pad_bits(self) -> int:
        return self.core_codeword_bits - CORE_BITS - self.core_tag_bits

    @property
    def body_bits(self) -> int:
        return self.packet_bits - HEADER_BITS - self.tag_bits

    @property
    def body_bytes(self) -> int:
        return self.body_bits // 8

    @property
    def core_segments(self) -> int:
        """Segments of the core codeword (one per chunk of a period)."""
        return self.core_period


PRESETS = {
    "light": CodeSettings(parity=0.25),
    "standard": CodeSettings(parity=0.5),
    "robust": CodeSettings(parity=1.0),
}


@dataclass(frozen=True)
class CoreMessage:
    """What the core layer carries."""

    isrc: int
    ext_length: int
    parity: float

    def to_int(self) -> int:
        value = _CORE_VERSION
        value = value << 2 | PARITY_CHOICES.index(self.parity)
        value = value << ISRC_BITS | self.isrc
        return value << _LENGTH_BITS | self.ext_length

    @classmethod
    def from_int(cls, value: int) -> CoreMessage | None:
        """The message, or None when the bits cannot be one (wrong version, out-of-range fields)."""
        ext_length = value & ((1 << _LENGTH_BITS) - 1)
        value >>= _LENGTH_BITS
        isrc = value & ((1 << ISRC_BITS) - 1)
        value >>= ISRC_BITS
        parity = value & 3
        version = value >> 2
        if version != _CORE_VERSION or ext_length < 2 or isrc >= 26**2 * 36**3 * 100 * 100_000:
            return None
        return cls(isrc, ext_length, PARITY_CHOICES[parity])

    def bytes(self) -> bytes:
        return self.to_int().to_bytes(math.ceil(CORE_BITS / 8), "big")


@dataclass(frozen=True)
class BlockLayout:
    """How the extended payload is cut into Reed–Solomon blocks (the decoder recomputes it from the core)."""

    blocks: int
    data_packets: int  # k per block
    parity_packets: int  # p per block
    bytes_per_block: int  # payload bytes per block (excluding the MAC)

    @property
    def packets_per_block(self) -> int:
        return self.data_packets + self.parity_packets

    @property
    def total_packets(self) -> int:
        return self.blocks * self.packets_per_block

    @classmethod
    def for_length(cls, ext_length: int, settings: CodeSettings) -> BlockLayout:
        d = settings.body_bytes
        blocks = 1
        while True:
            per_block = math.ceil(ext_length / blocks)
            k = math.ceil((per_block + MAC_BYTES) / d)
            p = max(1, math.ceil(k * settings.parity))
            if k + p <= 255:
                return cls(blocks, k, p, k * d - MAC_BYTES)
            blocks += 1

    def locate(self, g: int) -> tuple[int, int]:
        """Coded packet ``g`` (transmission order) → (block, position in the block's codeword)."""
        return g % self.blocks, g // self.blocks


def data_slot(position: int, total_packets: int) -> tuple[int, int]:
    """The data packet whose half chunk ``position`` carries, and which half (0: first, 1: second)."""
    return (position // 2) % total_packets, position % 2


def cycle_length(settings: CodeSettings, total_packets: int) -> int:
    """Chunks after which both layers repeat together."""
    return math.lcm(settings.core_period, 2 * total_packets)


def header(ptype: int, index: int) -> int:
    return ptype << INDEX_BITS | (index & ((1 << INDEX_BITS) - 1))


def seal(key: PayloadKey, settings: CodeSettings, head: int, body: bytes) -> int:
    """Plain header and body → the encrypted K-bit data packet word."""
    message = bytes([head]) + body
    word = int.from_bytes(message, "big") << settings.tag_bits | key.tag(message, settings.tag_bits)
    return key.encrypt(word, settings.packet_bits)


def open_packet(key: PayloadKey, settings: CodeSettings, word: int) -> tuple[int, bytes] | None:
    """Encrypted data packet word → (header, body) when its tag verifies, else None."""
    plain = key.decrypt(word, settings.packet_bits)
    tag = plain & ((1 << settings.tag_bits) - 1)
    message = (plain >> settings.tag_bits).to_bytes(1 + settings.body_bytes, "big")
    if key.tag(message, settings.tag_bits) != tag:
        return None
    return message[0], message[1:]


def _core_tag(key: PayloadKey, settings: CodeSettings, value: int) -> int:
    return key.tag(b"core" + value.to_bytes(math.ceil(CORE_BITS / 8), "big"), settings.core_tag_bits)


def seal_core(key: PayloadKey, settings: CodeSettings, core: CoreMessage) -> int:
    """The core message → its encrypted codeword (``core_codeword_bits`` bits)."""
    value = core.to_int()
    word = (value << settings.core_pad_bits) << settings.core_tag_bits | _core_tag(key, settings, value)
    return key.encrypt(word, settings.core_codeword_bits)


def open_core(key: PayloadKey, settings: CodeSettings, word: int) -> CoreMessage | None:
    """Encrypted core codeword → the message when its tag (and zero padding) verifies, else None."""
    plain = key.decrypt(word, settings.core_codeword_bits)
    tag = plain & ((1 << settings.core_tag_bits) - 1)
    plain >>= settings.core_tag_bits
    if plain & ((1 << settings.core_pad_bits) - 1):
        return None
    value = plain >> settings.core_pad_bits
    if _core_tag(key, settings, value) != tag:
        return None
    return CoreMessage.from_int(value)


def rs_codec(parity_packets: int) -> RSCodec:
    """Reed–Solomon over GF(256) with ``parity_packets`` parity symbols per (shortened) codeword."""
    return RSCodec(parity_packets, nsize=255)


def block_mac_input(core: CoreMessage, block: int, data: bytes) -> bytes:
    # Binding the MAC to the core stops blocks of another track (same key) being spliced in.
    return b"blk" + core.bytes() + block.to_bytes(2, "big") + data


def _bits(word: int, width: int) -> np.ndarray:
    return np.array([(word >> (width - 1 - i)) & 1 for i in range(width)], dtype=np.uint8)


@dataclass(frozen=True)
class EncodedPayload:
    """A record's codewords under one key and code setting, ready to be laid out over audio chunks."""

    settings: CodeSettings
    core: CoreMessage
    layout: BlockLayout
    core_word: int
    data_words: tuple[int, ...]  # transmission order
    record: dict[str, Any]

    @property
    def cycle_chunks(self) -> int:
        return cycle_length(self.settings, self.layout.total_packets)

    def chunk_bits(self, n_chunks: int, start: int = 0) -> np.ndarray:
        """Bits (0/1, uint8) for ``n_chunks`` consecutive chunks from schedule position ``start``: (n, K).

        Columns ``[0, K/2)``: the chunk's core segment; ``[K/2, K)``: its half of a data packet."""
        s = self.settings
        c, k = s.core_layer_bits, s.packet_bits
        core = _bits(self.core_word, s.core_codeword_bits).reshape(s.core_period, c)
        data = np.stack([_bits(w, k) for w in self.data_words]).reshape(len(self.data_words), 2, k - c)
        positions = start + np.arange(n_chunks)
        out = np.empty((n_chunks, k), dtype=np.uint8)
        out[:, :c] = core[positions % s.core_period]
        out[:, c:] = data[(positions // 2) % len(self.data_words), positions % 2]
        return out


def encode_payload(record: Any, key: PayloadKey, settings: CodeSettings | None = None) -> EncodedPayload:
    """Validate, serialize and packetize ``record`` (raises RecordError / PayloadTooLargeError)."""
    settings = settings or CodeSettings()
    canonical = canonical_record(record)
    ext = serialize(canonical, exclude=CORE_FIELDS)
    core = CoreMessage(pack_isrc(canonical["isrc"]), len(ext), settings.parity)
    layout = BlockLayout.for_length(len(ext), settings)
    d = settings.body_bytes
    coded: list[list[bytes]] = []
    rs = rs_codec(layout.parity_packets)
    for b in range(layout.blocks):
        data = ext[b * layout.bytes_per_block : (b + 1) * layout.bytes_per_block].ljust(layout.bytes_per_block, b"\0")
        data += key.mac(block_mac_input(core, b, data))
        packets = [bytearray(data[i * d : (i + 1) * d]) for i in range(layout.data_packets)]
        parity = [bytearray(d) for _ in range(layout.parity_packets)]
        for col in range(d):
            codeword = rs.encode(bytes(p[col] for p in packets))
            for j in range(layout.parity_packets):
                parity[j][col] = codeword[layout.data_packets + j]
        coded.append([bytes(p) for p in packets + parity])
    data_words = []
    for g in range(layout.total_packets):
        b, pos = layout.locate(g)
        data_words.append(seal(key, settings, header(TYPE_DATA, g), coded[b][pos]))
    return EncodedPayload(settings, core, layout, seal_core(key, settings, core), tuple(data_words), canonical)
