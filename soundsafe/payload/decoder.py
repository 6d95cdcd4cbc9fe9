"""Soft decoding: per-chunk soft bits (LLRs) with unknown start, gaps and repeats → fields and confidences.

The input is one or more *segments*: runs of consecutive chunks as the detector found them (a new segment
after a cut or a splice), each chunk a vector of K log-likelihood ratios ``log P(bit=1) / P(bit=0)`` or
``None`` where no watermark was read. Decoding:

1. **Core phase.** For each segment and each phase of the schedule period, the soft bits of the chunks
   that would hold core segment ``j`` are summed (the core repeats every period) and decoded.
2. **Packet decoding** is Chase-style: the hard decision, then flips of the ``chase_bits`` least reliable
   bits in order of cost, until the decrypted packet has the expected header and a valid tag.
3. **Data alignment.** The core gives the payload length, hence the schedule's cycle; the segment's place in
   the cycle is the one most of its (hard-decoded) data chunks agree with.
4. **Combining.** Soft bits of every copy of a packet, across periods, cycles and segments, are summed and the
   packet decoded; packets that fail are erasures for the Reed–Solomon decoder of their block; each block's
   MAC is checked. Fields are read from the longest verified prefix of the payload.

False accepts: a packet is accepted only with the expected 8-bit header and a ``tag_bits`` tag, so one trial
passes random bits with probability ``2**-(8 + tag_bits)``; :func:`false_accept_bound` multiplies by the
number of trials a read makes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from reedsolo import ReedSolomonError

from soundsafe.payload.keys import PayloadKey
from soundsafe.payload.packets import (
    HEADER_BITS,
    TYPE_CORE,
    TYPE_DATA,
    BlockLayout,
    CodeSettings,
    CoreMessage,
    block_mac_input,
    core_from_bodies,
    cycle_length,
    header,
    open_packet,
    rs_codec,
    schedule_slot,
)
from soundsafe.payload.record import FIELDS
from soundsafe.payload.serialize import iter_fields, unpack_isrc, unpack_iswc
from soundsafe.payload.wire import PayloadFormatError

__all__ = ["DecodeResult", "StreamDecoder", "decode_stream", "false_accept_bound"]

_LLR_CLIP = 50.0
_MAC_BITS = 32
_ALIGN_FALLBACK_BUDGET = 200_000  # Chase trials allowed when no data chunk of a segment decodes alone


@dataclass
class DecodeResult:
    """What a read recovered. ``confidence`` is a posterior probability per field (see module docs)."""

    fields: dict[str, Any] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=lambda: list(FIELDS))
    complete: bool = False
    core_found: bool = False
    payload_bytes: int = 0  # length of the record's extended part, from the core
    bytes_recovered: int = 0  # verified prefix of it
    blocks_decoded: int = 0
    blocks_total: int = 0
    segment_offsets: list[int | None] = field(default_factory=list)  # schedule position of each segment's start
    chunks_read: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (the one serializer of a read: CLI output, reports, tests)."""
        return {
            "complete": self.complete,
            "fields": self.fields,
            "confidence": {k: round(v, 9) for k, v in self.confidence.items()},
            "missing": self.missing,
            "core_found": self.core_found,
            "payload_bytes": self.payload_bytes,
            "bytes_recovered": self.bytes_recovered,
            "blocks_decoded": self.blocks_decoded,
            "blocks_total": self.blocks_total,
            "segment_offsets": self.segment_offsets,
            "chunks_read": self.chunks_read,
        }


def false_accept_bound(settings: CodeSettings) -> float:
    """Upper bound on the probability that one read of unmarked audio yields an ISRC.

    A read tries ``core_period`` phases × ``core_segments`` segments × ``2**chase_bits`` flip patterns, and
    every core segment must pass its header and tag (independently for random input).
    """
    per_trial = 2.0 ** -(HEADER_BITS + settings.tag_bits)
    per_segment = min(1.0, 2**settings.chase_bits * per_trial)
    return min(1.0, settings.core_period * per_segment**settings.core_segments)


# --- one packet ------------------------------------------------------------------------------------------------


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


@dataclass(frozen=True)
class _Opened:
    head: int
    body: bytes
    confidence: float


class _PacketReader:
    """Chase decoding of one K-bit packet from its (summed) LLRs."""

    def __init__(self, key: PayloadKey, settings: CodeSettings) -> None:
        self.key, self.settings = key, settings
        t = settings.chase_bits
        self._subsets = np.array(list(itertools.product((0, 1), repeat=t)), dtype=bool)[:, ::-1]

    def word(self, bits: np.ndarray) -> int:
        return int.from_bytes(np.packbits(bits.astype(np.uint8)).tobytes(), "big")

    def read(self, llr: np.ndarray, expected: int | None, chase: bool = True) -> _Opened | None:
        settings = self.settings
        hard = llr > 0
        base = self.word(hard)
        trials = [0]
        order = np.argsort(np.abs(llr), kind="stable")[: settings.chase_bits]
        if chase and settings.chase_bits:
            costs = self._subsets.astype(float) @ np.abs(llr[order])
            flips = [sum(1 << (settings.packet_bits - 1 - int(order[j])) for j in np.flatnonzero(s))
                     for s in self._subsets[np.argsort(costs, kind="stable")]]
            trials = flips
        for flip in trials:
            opened = open_packet(self.key, settings, base ^ flip)
            if opened is None or (expected is not None and opened[0] != expected):
                continue
            return _Opened(opened[0], opened[1], self._confidence(llr, base ^ flip, len(trials), expected))
        return None

    def _confidence(self, llr: np.ndarray, word: int, trials: int, expected: int | None) -> float:
        bits = np.unpackbits(np.frombuffer(word.to_bytes(self.settings.packet_bits // 8, "big"), dtype=np.uint8))
        signs = np.where(bits == 1, 1.0, -1.0)
        log_p = float(_log_sigmoid(signs * llr).sum())  # posterior of this word from the soft bits alone
        check_bits = self.settings.tag_bits + (HEADER_BITS if expected is not None else 0) - math.log2(trials)
        if log_p >= -1e-300:
            return 1.0
        logit = log_p - math.log(-math.expm1(log_p)) + check_bits * math.log(2)
        return 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0


# --- the stream ----------------------------------------------------------------------------------------------


def _clean(chunk: Any, k: int) -> np.ndarray | None:
    if chunk is None:
        return None
    llr = np.asarray(chunk, dtype=np.float64)
    if llr.shape != (k,):
        raise ValueError(f"each chunk must hold {k} soft bits (packet_bits), got shape {llr.shape}")
    return np.clip(np.nan_to_num(llr, nan=0.0, posinf=_LLR_CLIP, neginf=-_LLR_CLIP), -_LLR_CLIP, _LLR_CLIP)


def _boost(confidence: float, bits: float) -> float:
    if confidence >= 1.0:
        return 1.0
    if confidence <= 0.0:
        return 0.0
    logit = math.log(confidence) - math.log1p(-confidence) + bits * math.log(2)
    return 1.0 / (1.0 + math.exp(-logit))


def _core_sums(seg: list[np.ndarray | None], phi: int, settings: CodeSettings,
               sums: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Soft bits of every copy of each core segment in ``seg`` at schedule phase ``phi``, summed (and which seen)."""
    period, c = settings.core_period, settings.core_segments
    sums = np.zeros((c, settings.packet_bits)) if sums is None else sums
    seen = np.zeros(c, dtype=bool)
    for i, llr in enumerate(seg):
        r = (i + phi) % period
        if llr is not None and r < c:
            sums[r] += llr
            seen[r] = True
    return sums, seen


def _data_sums(seg: list[np.ndarray | None], start: int, settings: CodeSettings, total: int, cycle: int,
               sums: np.ndarray) -> np.ndarray:
    """Add the soft bits of every data chunk of ``seg`` (starting at schedule ``start``) to its packet's row."""
    seen = np.zeros(total, dtype=bool)
    for i, llr in enumerate(seg):
        g = _data_index(start + i, settings, total, cycle) if llr is not None else None
        if g is not None:
            sums[g] += llr
            seen[g] = True
    return seen


def _core_phase(seg: list[np.ndarray | None], reader: _PacketReader, settings: CodeSettings) -> int | None:
    """The schedule phase (start position mod period) at which this segment's core segments decode best."""
    c = settings.core_segments
    best: tuple[int, float, int] | None = None
    for phi in range(settings.core_period):
        sums, seen = _core_sums(seg, phi, settings)
        opened = [reader.read(sums[j], header(TYPE_CORE, j)) if seen[j] else None for j in range(c)]
        score = sum(o is not None for o in opened)
        total = sum(o.confidence for o in opened if o is not None)
        if score and (best is None or (score, total) > best[:2]):
            best = (score, total, phi)
    return None if best is None else best[2]


def _read_core(segs: list[list[np.ndarray | None]], phases: list[int | None], reader: _PacketReader,
               settings: CodeSettings) -> tuple[CoreMessage, float] | None:
    c = settings.core_segments
    sums = np.zeros((c, settings.packet_bits))
    for seg, phi in zip(segs, phases, strict=True):
        if phi is not None:
            _core_sums(seg, phi, settings, sums)
    opened = [reader.read(sums[j], header(TYPE_CORE, j)) for j in range(c)]
    if any(o is None for o in opened):
        return None
    core = core_from_bodies([o.body for o in opened], settings)  # type: ignore[union-attr]
    if core is None:
        return None
    return core, min(o.confidence for o in opened)  # type: ignore[union-attr]


def _data_index(position: int, settings: CodeSettings, total: int, cycle: int) -> int | None:
    ptype, index = schedule_slot(position % cycle, settings, total)
    return index if ptype == TYPE_DATA else None


def _align_data(seg: list[np.ndarray | None], phi: int, reader: _PacketReader, settings: CodeSettings,
                total: int, cycle: int) -> int | None:
    """The segment's start position in the schedule cycle (``q0 * period + phi``), or None."""
    period = settings.core_period
    hypotheses = cycle // period
    if hypotheses == 1:
        return phi
    # Hard decisions first: each data chunk that opens alone votes for the offsets its header fits.
    opened: list[tuple[int, int]] = []
    for i, llr in enumerate(seg):
        if llr is None or (i + phi) % period < settings.core_segments:
            continue
        packet = reader.read(llr, None, chase=False)
        if packet is not None and packet.head >> 6 == TYPE_DATA:
            opened.append((i, packet.head))
    votes = np.zeros(hypotheses, dtype=int)
    for q0 in range(hypotheses):
        start = q0 * period + phi
        votes[q0] = sum(header(TYPE_DATA, _data_index(start + i, settings, total, cycle) or 0) == head
                        for i, head in opened)
    if votes.max() > 0:
        return int(votes.argmax()) * period + phi
    # Nothing opened alone: for each offset, sum the copies it implies and try the best-covered packets.
    probes = 4
    if hypotheses * probes * 2**settings.chase_bits > _ALIGN_FALLBACK_BUDGET:
        return None
    for q0 in range(hypotheses):
        start = q0 * period + phi
        sums = np.zeros((total, settings.packet_bits))
        seen = _data_sums(seg, start, settings, total, cycle, sums)
        best = sorted(np.flatnonzero(seen).tolist(), key=lambda g: -float(np.abs(sums[g]).sum()))[:probes]
        if any(reader.read(sums[g], header(TYPE_DATA, g)) is not None for g in best):
            return start
    return None


def decode_stream(segments: Sequence[Sequence[Any]], key: PayloadKey,
                  settings: CodeSettings | None = None) -> DecodeResult:
    """Decode soft bits read from audio; see the module docstring. Never raises on noisy or random LLRs."""
    settings = settings or CodeSettings()
    k = settings.packet_bits
    segs = [[_clean(chunk, k) for chunk in seg] for seg in segments]
    result = DecodeResult(chunks_read=sum(llr is not None for seg in segs for llr in seg))
    reader = _PacketReader(key, settings)
    phases = [_core_phase(seg, reader, settings) for seg in segs]
    core_read = _read_core(segs, phases, reader, settings) if any(p is not None for p in phases) else None
    result.segment_offsets = [None] * len(segs)
    if core_read is None:
        return result
    core, core_confidence = core_read
    result.core_found = True
    result.fields["isrc"] = unpack_isrc(core.isrc)
    result.confidence["isrc"] = core_confidence
    if core.iswc is not None:
        result.fields["iswc"] = unpack_iswc(core.iswc)
        result.confidence["iswc"] = core_confidence
    absent = {"iswc"} if core.iswc is None else set()
    result.missing = [f for f in FIELDS if f not in result.fields and f not in absent]

    coded_settings = replace(settings, parity=core.parity)
    layout = BlockLayout.for_length(core.ext_length, coded_settings)
    total = layout.total_packets
    cycle = cycle_length(settings, total)
    result.payload_bytes, result.blocks_total = core.ext_length, layout.blocks

    sums = np.zeros((total, k))
    seen = np.zeros(total, dtype=bool)
    for s, (seg, phi) in enumerate(zip(segs, phases, strict=True)):
        if phi is None:
            continue
        start = _align_data(seg, phi, reader, settings, total, cycle)
        result.segment_offsets[s] = start
        if start is not None:
            seen |= _data_sums(seg, start, settings, total, cycle, sums)

    packets: dict[int, _Opened] = {}
    for g in np.flatnonzero(seen):
        opened = reader.read(sums[g], header(TYPE_DATA, int(g)))
        if opened is not None:
            packets[int(g)] = opened

    prefix, confidences = _decode_blocks(packets, layout, core, key, coded_settings)
    result.blocks_decoded = len(confidences)
    prefix = prefix[: core.ext_length]
    result.bytes_recovered = len(prefix)
    _read_fields(prefix, confidences, layout, core, result)
    return result


def _decode_blocks(packets: dict[int, _Opened], layout: BlockLayout, core: CoreMessage, key: PayloadKey,
                   settings: CodeSettings) -> tuple[bytes, list[float]]:
    """Reed–Solomon + MAC per block; the verified prefix of the payload and each verified block's confidence."""
    d, n, kd = settings.body_bytes, layout.packets_per_block, layout.data_packets
    rs = rs_codec(layout.parity_packets)
    prefix = b""
    confidences: list[float] = []
    for b in range(layout.blocks):
        received = {pos: packets[g] for pos in range(n) if (g := pos * layout.blocks + b) in packets}
        erased = [pos for pos in range(n) if pos not in received]
        if len(erased) > layout.parity_packets:
            break
        columns = []
        try:
            for col in range(d):
                word = bytearray(received[pos].body[col] if pos in received else 0 for pos in range(n))
                message = rs.decode(word, erase_pos=erased or None)[0] if erased else word[:kd]
                columns.append(bytes(message))
        except ReedSolomonError:
            break
        data = bytes(columns[col][i] for i in range(kd) for col in range(d))
        payload, mac = data[: layout.bytes_per_block], data[layout.bytes_per_block :]
        if key.mac(block_mac_input(core, b, payload)) != mac:
            break
        prefix += payload
        confidences.append(_boost(min(p.confidence for p in received.values()), _MAC_BITS))
    return prefix, confidences


def _read_fields(prefix: bytes, confidences: list[float], layout: BlockLayout, core: CoreMessage,
                 result: DecodeResult) -> None:
    complete = len(prefix) == core.ext_length
    try:
        for span in iter_fields(prefix):
            first, last = span.start // layout.bytes_per_block, (span.end - 1) // layout.bytes_per_block
            result.fields[span.name] = span.value
            result.confidence[span.name] = min(confidences[first : last + 1])
    except PayloadFormatError:
        complete = False  # a field runs past the verified prefix (or the bytes are not a payload)
    result.complete = complete
    ordered = {name: result.fields[name] for name in FIELDS if name in result.fields}
    result.fields = ordered
    result.confidence = {name: result.confidence[name] for name in ordered}
    if complete:
        result.missing = []
    else:
        known_absent = {"iswc"} if core.iswc is None else set()
        result.missing = [f for f in FIELDS if f not in ordered and f not in known_absent]


class StreamDecoder:
    """Incremental wrapper: push chunks as the detector reads them, ask for the result at any time."""

    def __init__(self, key: PayloadKey, settings: CodeSettings | None = None) -> None:
        self.key, self.settings = key, settings or CodeSettings()
        self.segments: list[list[np.ndarray | None]] = [[]]

    def push(self, llr: Any) -> None:
        """Add the next chunk's soft bits (``None`` for a chunk with no watermark read)."""
        self.segments[-1].append(_clean(llr, self.settings.packet_bits))

    def break_segment(self) -> None:
        """The next chunk does not follow the previous one (a cut, a splice, a new stream)."""
        if self.segments[-1]:
            self.segments.append([])

    def result(self) -> DecodeResult:
        return decode_stream(self.segments, self.key, self.settings)
