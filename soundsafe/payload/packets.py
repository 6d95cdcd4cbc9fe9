"""Packets, forward error correction and the chunk schedule: a record → the K bits each audio chunk carries.

Every chunk of audio carries one packet of ``K = packet_bits`` bits::

    header (8 bits: type 2, index 6) | body (K - 8 - tag_bits) | tag (tag_bits)

encrypted as a whole by the key's permutation (:mod:`.keys`). Two packet types:

* **core** — ISRC, ISWC, the length of the rest and the code setting (96 bits), split over
  ``core_segments`` packets (3 at K=64, 1 at K=128). The core segments open every schedule period of
  ``core_period`` chunks, so the ISRC can be read from any ``core_period`` consecutive chunks.
* **data** — the rest of the serialized record in blocks, each ending in a 32-bit MAC bound to the core,
  protected by Reed–Solomon parity across packets (byte ``i`` of the ``k`` data packets of a block and of its
  ``p`` parity packets form one RS(k+p, k) codeword over GF(256)), so any ``p`` lost packets of a block are
  recovered. Blocks are interleaved packet by packet, so a burst of lost chunks is spread over blocks.

The schedule fills the remaining slots of each period with the coded packets in order and cycles, so long
audio repeats every packet and the decoder sums the repeats' soft bits.
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
    ISWC_BITS,
    canonical_record,
    pack_isrc,
    pack_iswc,
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
CORE_FIELDS = ("isrc", "iswc")
_CORE_VERSION = 1
_LENGTH_BITS = 12  # extended payload length in bytes (the whole record is at most 3,474)
CORE_BITS = 2 + 2 + ISRC_BITS + 1 + ISWC_BITS + _LENGTH_BITS  # version, parity, ISRC, has-ISWC, ISWC, length
# Parity per data packet is one of four settings, so the core can say which one the embedder used.
PARITY_CHOICES = (0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class CodeSettings:
    """How a payload becomes packets. ``packet_bits`` (K) is shared with the watermark model.

    ``parity`` (Reed–Solomon parity packets per data packet) travels in the core, so the decoder needs only
    ``packet_bits``, ``tag_bits`` and ``core_period``. ``chase_bits`` is a decoder setting: how many of the
    least reliable bits of a packet soft decoding may flip.
    """

    packet_bits: int = 64
    tag_bits: int = 24
    parity: float = 0.5
    core_period: int = 8
    chase_bits: int = 6

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
        if not problems and self.core_period <= self.core_segments:
            problems.append(f"core_period {self.core_period} must exceed the {self.core_segments} core segments")
        if problems:
            raise ValueError("invalid code settings: " + "; ".join(problems))

    @property
    def body_bits(self) -> int:
        return self.packet_bits - HEADER_BITS - self.tag_bits

    @property
    def body_bytes(self) -> int:
        return self.body_bits // 8

    @property
    def core_segments(self) -> int:
        return math.ceil(CORE_BITS / self.body_bits)

    @property
    def data_slots(self) -> int:
        """Data packets per schedule period."""
        return self.core_period - self.core_segments


PRESETS = {
    "light": CodeSettings(parity=0.25),
    "standard": CodeSettings(parity=0.5),
    "robust": CodeSettings(parity=1.0),
}


@dataclass(frozen=True)
class CoreMessage:
    """What the core packets carry."""

    isrc: int
    iswc: int | None
    ext_length: int
    parity: float

    def to_int(self) -> int:
        value = _CORE_VERSION
        value = value << 2 | PARITY_CHOICES.index(self.parity)
        value = value << ISRC_BITS | self.isrc
        value = value << 1 | (self.iswc is not None)
        value = value << ISWC_BITS | (self.iswc or 0)
        return value << _LENGTH_BITS | self.ext_length

    @classmethod
    def from_int(cls, value: int) -> CoreMessage | None:
        """The message, or None when the bits cannot be one (wrong version, out-of-range fields)."""
        ext_length = value & ((1 << _LENGTH_BITS) - 1)
        value >>= _LENGTH_BITS
        iswc = value & ((1 << ISWC_BITS) - 1)
        value >>= ISWC_BITS
        has_iswc = value & 1
        value >>= 1
        isrc = value & ((1 << ISRC_BITS) - 1)
        value >>= ISRC_BITS
        parity = value & 3
        version = value >> 2
        if version != _CORE_VERSION or iswc >= 10**9 or (iswc and not has_iswc) or ext_length < 2:
            return None
        if isrc >= 26**2 * 36**3 * 100 * 100_000:
            return None
        return cls(isrc, iswc if has_iswc else None, ext_length, PARITY_CHOICES[parity])

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


def schedule_slot(position: int, settings: CodeSettings, total_packets: int) -> tuple[int, int]:
    """What chunk ``position`` of the schedule carries: ``(TYPE_CORE, segment)`` or ``(TYPE_DATA, g)``.

    The schedule repeats every :func:`cycle_length` chunks; the last period of a cycle wraps to the first
    coded packets.
    """
    period, r = divmod(position % cycle_length(settings, total_packets), settings.core_period)
    if r < settings.core_segments:
        return TYPE_CORE, r
    return TYPE_DATA, (period * settings.data_slots + r - settings.core_segments) % total_packets


def cycle_length(settings: CodeSettings, total_packets: int) -> int:
    """Chunks after which the schedule repeats."""
    return settings.core_period * math.ceil(total_packets / settings.data_slots)


def header(ptype: int, index: int) -> int:
    return ptype << INDEX_BITS | (index & ((1 << INDEX_BITS) - 1))


def seal(key: PayloadKey, settings: CodeSettings, head: int, body: bytes) -> int:
    """Plain header and body → the encrypted K-bit packet word."""
    message = bytes([head]) + body
    word = int.from_bytes(message, "big") << settings.tag_bits | key.tag(message, settings.tag_bits)
    return key.encrypt(word, settings.packet_bits)


def open_packet(key: PayloadKey, settings: CodeSettings, word: int) -> tuple[int, bytes] | None:
    """Encrypted word → (header, body) when its tag verifies, else None."""
    plain = key.decrypt(word, settings.packet_bits)
    tag = plain & ((1 << settings.tag_bits) - 1)
    message = (plain >> settings.tag_bits).to_bytes(1 + settings.body_bytes, "big")
    if key.tag(message, settings.tag_bits) != tag:
        return None
    return message[0], message[1:]


def core_bodies(core: CoreMessage, settings: CodeSettings) -> list[bytes]:
    """The core message split over its segments (zero-padded to whole bodies)."""
    total = settings.core_segments * settings.body_bits
    value = core.to_int() << (total - CORE_BITS)
    raw = value.to_bytes(total // 8, "big")
    n = settings.body_bytes
    return [raw[i * n : (i + 1) * n] for i in range(settings.core_segments)]


def core_from_bodies(bodies: list[bytes], settings: CodeSettings) -> CoreMessage | None:
    total = settings.core_segments * settings.body_bits
    value = int.from_bytes(b"".join(bodies), "big")
    if value & ((1 << (total - CORE_BITS)) - 1):
        return None  # padding must be zero
    return CoreMessage.from_int(value >> (total - CORE_BITS))


def rs_codec(parity_packets: int) -> RSCodec:
    """Reed–Solomon over GF(256) with ``parity_packets`` parity symbols per (shortened) codeword."""
    return RSCodec(parity_packets, nsize=255)


def block_mac_input(core: CoreMessage, block: int, data: bytes) -> bytes:
    # Binding the MAC to the core stops blocks of another track (same key) being spliced in.
    return b"blk" + core.bytes() + block.to_bytes(2, "big") + data


@dataclass(frozen=True)
class EncodedPayload:
    """A record's packets under one key and code setting, ready to be laid out over audio chunks."""

    settings: CodeSettings
    core: CoreMessage
    layout: BlockLayout
    core_words: tuple[int, ...]
    data_words: tuple[int, ...]  # transmission order
    record: dict[str, Any]

    @property
    def cycle_chunks(self) -> int:
        return cycle_length(self.settings, self.layout.total_packets)

    def word_at(self, position: int) -> int:
        ptype, index = schedule_slot(position, self.settings, self.layout.total_packets)
        return self.core_words[index] if ptype == TYPE_CORE else self.data_words[index]

    def chunk_bits(self, n_chunks: int, start: int = 0) -> np.ndarray:
        """Bits (0/1, uint8) for ``n_chunks`` consecutive chunks from schedule position ``start``: (n, K)."""
        nbytes = self.settings.packet_bits // 8
        raw = b"".join(self.word_at(start + i).to_bytes(nbytes, "big") for i in range(n_chunks))
        return np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).reshape(n_chunks, self.settings.packet_bits)


def encode_payload(record: Any, key: PayloadKey, settings: CodeSettings | None = None) -> EncodedPayload:
    """Validate, serialize and packetize ``record`` (raises RecordError / PayloadTooLargeError)."""
    settings = settings or CodeSettings()
    canonical = canonical_record(record)
    ext = serialize(canonical, exclude=CORE_FIELDS)
    core = CoreMessage(pack_isrc(canonical["isrc"]),
                       pack_iswc(canonical["iswc"]) if "iswc" in canonical else None, len(ext), settings.parity)
    layout = BlockLayout.for_length(len(ext), settings)
    core_words = tuple(seal(key, settings, header(TYPE_CORE, j), body)
                       for j, body in enumerate(core_bodies(core, settings)))
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
    return EncodedPayload(settings, core, layout, core_words, tuple(data_words), canonical)
