"""Soft decoding: per-chunk soft bits (LLRs) with unknown start, gaps and repeats → fields and confidences.

The input is one or more *segments*: runs of consecutive chunks as the detector found them (a new segment
after a cut or a splice), each chunk a vector of K log-likelihood ratios ``log P(bit=1) / P(bit=0)`` or
``None`` where no watermark was read (see :mod:`.packets` for the two layers). Decoding:

1. **Core.** For each segment and each phase of the core period, the core-layer soft bits of every chunk
   holding segment ``j`` are summed (a partial chunk at a read's edge adds its weaker soft bits like any
   other) and the codeword decoded; the best phase of every segment is kept and all are summed once more.
2. **Codeword decoding** is Chase-style: the hard decision, then flips of the ``core_chase_bits`` (core) or
   ``chase_bits`` (data packets) least reliable bits in order of cost, until the decrypted word has a valid
   tag (and, for data packets, header).
3. **Data alignment.** The core gives the payload length, hence the number of data packets ``T``; a
   segment's place in the data cycle (``2T`` chunks) is the one most of its hard-decoded chunk pairs agree
   with.
4. **Combining.** Soft bits of every copy of a data packet, across cycles and segments, are summed and the
   packet decoded; packets that fail are erasures for the Reed–Solomon decoder of their block; each block's
   MAC is checked. Fields are read from the longest verified prefix of the payload.

False accepts: a core codeword is accepted only with its ``core_tag_bits`` tag (32 at K=64), so one trial
passes random bits with probability ``2**-core_tag_bits``; :func:`false_accept_bound` multiplies by the
number of trials a read makes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from reedsolo import ReedSolomonError

from soundsafe.payload.keys import PayloadKey
from soundsafe.payload.packets import (
    HEADER_BITS,
    TYPE_DATA,
    BlockLayout,
    CodeSettings,
    CoreMessage,
    block_mac_input,
    cycle_length,
    data_slot,
    header,
    open_core,
    open_packet,
    rs_codec,
)
from soundsafe.payload.record import FIELDS
from soundsafe.payload.serialize import iter_fields, unpack_isrc
from soundsafe.payload.wire import PayloadFormatError

__all__ = ["DecodeResult", "StreamDecoder", "decode_stream", "false_accept_bound"]

_LLR_CLIP = 50.0
_MAC_BITS = 32
_ALIGN_FALLBACK_BUDGET = 200_000  # Chase trials allowed when no data chunk pair of a segment decodes alone


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
    """Upper bound on the probability that one read of a segment of unmarked audio yields an ISRC.

    A read tries ``core_period`` phases × ``2**core_chase_bits`` flip patterns per segment (and once more on the sum
    over segments), and a random word passes the core's ``core_tag_bits`` tag with probability
    ``2**-core_tag_bits``.
    """
    trials = (settings.core_period + 1) * 2**settings.core_chase_bits
    return min(1.0, trials * 2.0 ** -settings.core_tag_bits)


# --- one codeword ----------------------------------------------------------------------------------------------


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _word(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits), 2) if bits.size else 0


@dataclass(frozen=True)
class _Opened:
    value: Any  # what the opener returned: (header, body) for a data packet, a CoreMessage for the core
    confidence: float


def _chase(llr: np.ndarray, opener: Callable[[int], Any], chase_bits: int, check_bits: float,
           chase: bool = True) -> _Opened | None:
    """Chase decoding of one codeword from its (summed) LLRs: the first flip pattern, cheapest first, that
    ``opener`` accepts (returns non-None); ``check_bits`` is how many bits of check the opener applies."""
    width = llr.size
    base = _word(llr > 0)
    trials = [0]
    if chase and chase_bits:
        order = np.argsort(np.abs(llr), kind="stable")[:chase_bits]
        subsets = np.array(list(itertools.product((0, 1), repeat=len(order))), dtype=bool)[:, ::-1]
        costs = subsets.astype(float) @ np.abs(llr[order])
        trials = [sum(1 << (width - 1 - int(order[j])) for j in np.flatnonzero(s))
                  for s in subsets[np.argsort(costs, kind="stable")]]
    for flip in trials:
        value = opener(base ^ flip)
        if value is not None:
            return _Opened(value, _confidence(llr, base ^ flip, check_bits - math.log2(len(trials))))
    return None


def _confidence(llr: np.ndarray, word: int, check_bits: float) -> float:
    """Posterior that ``word`` is what was sent: its likelihood from the soft bits, times 2**check_bits."""
    width = llr.size
    bits = np.array([(word >> (width - 1 - i)) & 1 for i in range(width)])
    signs = np.where(bits == 1, 1.0, -1.0)
    log_p = float(_log_sigmoid(signs * llr).sum())
    if log_p >= -1e-300:
        return 1.0
    logit = log_p - math.log(-math.expm1(log_p)) + check_bits * math.log(2)
    return 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0


class _Readers:
    """The two codeword readers of one key and code setting."""

    def __init__(self, key: PayloadKey, settings: CodeSettings) -> None:
        self.key, self.settings = key, settings

    def core(self, llr: np.ndarray) -> _Opened | None:
        s = self.settings
        return _chase(llr, lambda w: open_core(self.key, s, w), s.core_chase_bits, s.core_tag_bits)

    def data(self, llr: np.ndarray, expected: int | None, chase: bool = True) -> _Opened | None:
        s = self.settings

        def opener(word: int) -> tuple[int, bytes] | None:
            opened = open_packet(self.key, s, word)
            return None if opened is None or (expected is not None and opened[0] != expected) else opened

        check = s.tag_bits + (HEADER_BITS if expected is not None else 0)
        return _chase(llr, opener, s.chase_bits if chase else 0, check, chase)


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
               sums: np.ndarray | None = None) -> np.ndarray:
    """Core-layer soft bits of every chunk of ``seg`` at core phase ``phi`` (position of its first chunk mod
    the period), summed per segment of the codeword: ``(core_period, core_layer_bits)``."""
    period, c = settings.core_period, settings.core_layer_bits
    sums = np.zeros((period, c)) if sums is None else sums
    for i, llr in enumerate(seg):
        if llr is not None:
            sums[(i + phi) % period] += llr[:c]
    return sums


def _core_phase(seg: list[np.ndarray | None], readers: _Readers) -> int | None:
    """The core phase at which this segment's core codeword decodes most confidently, or None."""
    if not any(llr is not None for llr in seg):
        return None
    best: tuple[float, int] | None = None
    for phi in range(readers.settings.core_period):
        opened = readers.core(_core_sums(seg, phi, readers.settings).reshape(-1))
        if opened is not None and (best is None or opened.confidence > best[0]):
            best = (opened.confidence, phi)
    return None if best is None else best[1]


def _read_core(segs: list[list[np.ndarray | None]], phases: list[int | None],
               readers: _Readers) -> tuple[CoreMessage, float] | None:
    s = readers.settings
    sums = np.zeros((s.core_period, s.core_layer_bits))
    for seg, phi in zip(segs, phases, strict=True):
        if phi is not None:
            _core_sums(seg, phi, s, sums)
    opened = readers.core(sums.reshape(-1))
    return None if opened is None else (opened.value, opened.confidence)


def _pairs(seg: list[np.ndarray | None], start: int, settings: CodeSettings,
           total: int) -> list[tuple[int, np.ndarray]]:
    """``(packet, K soft bits)`` of every data packet ``seg`` touches, for a segment starting at data position
    ``start``; a packet with one half outside the segment or unread has zeros there."""
    c, d = settings.core_layer_bits, settings.data_layer_bits
    out: dict[int, tuple[int, np.ndarray]] = {}  # keyed by the pair's first chunk position
    for i, llr in enumerate(seg):
        if llr is None:
            continue
        g, half = data_slot(start + i, total)
        first = start + i - half
        entry = out.setdefault(first, (g, np.zeros(2 * d)))
        entry[1][half * d: (half + 1) * d] += llr[c:]
    return list(out.values())


def _align_data(seg: list[np.ndarray | None], readers: _Readers, total: int) -> int | None:
    """The segment's start position in the data cycle (``0 … 2·total − 1``), or None."""
    s = readers.settings
    c = s.core_layer_bits
    # Hard decisions first: each chunk pair that opens alone votes for the offsets its header fits.
    firsts, heads = [], []
    for i in range(len(seg) - 1):
        a, b = seg[i], seg[i + 1]
        if a is None or b is None:
            continue
        opened = readers.data(np.concatenate([a[c:], b[c:]]), None, chase=False)
        if opened is not None and opened.value[0] >> 6 == TYPE_DATA:
            firsts.append(i)
            heads.append(opened.value[0])
    if firsts:
        x = np.arange(2 * total)[:, None]
        i = np.array(firsts)[None, :]
        g = ((x + i) // 2) % total
        fits = ((x + i) % 2 == 0) & ((TYPE_DATA << 6 | (g & 63)) == np.array(heads)[None, :])
        votes = fits.sum(axis=1)
        if votes.max() > 0:
            return int(votes.argmax())
    # Nothing opened alone: for each offset, sum the copies it implies and try the best-covered packets.
    probes = 4
    if 2 * total * probes * 2**s.chase_bits > _ALIGN_FALLBACK_BUDGET:
        return None
    for start in range(2 * total):
        sums = np.zeros((total, s.packet_bits))
        for g, llr in _pairs(seg, start, s, total):
            sums[g] += llr
        best = np.argsort(-np.abs(sums).sum(axis=1))[:probes]
        if any(readers.data(sums[g], header(TYPE_DATA, int(g))) is not None for g in best if sums[g].any()):
            return start
    return None


def _schedule_offset(phi: int | None, start: int, settings: CodeSettings, total: int) -> int:
    """The schedule position (mod the whole cycle) that is ``phi`` mod the core period and ``start`` mod
    ``2·total``; just ``start`` when the core phase is unknown or does not fit."""
    if phi is not None:
        for k in range(settings.core_period):
            candidate = start + k * 2 * total
            if candidate % settings.core_period == phi:
                return candidate % cycle_length(settings, total)
    return start


def decode_stream(segments: Sequence[Sequence[Any]], key: PayloadKey,
                  settings: CodeSettings | None = None) -> DecodeResult:
    """Decode soft bits read from audio; see the module docstring. Never raises on noisy or random LLRs."""
    settings = settings or CodeSettings()
    k = settings.packet_bits
    segs = [[_clean(chunk, k) for chunk in seg] for seg in segments]
    result = DecodeResult(chunks_read=sum(llr is not None for seg in segs for llr in seg))
    readers = _Readers(key, settings)
    phases = [_core_phase(seg, readers) for seg in segs]
    result.segment_offsets = [None] * len(segs)
    core_read = _read_core(segs, phases, readers) if any(p is not None for p in phases) else None
    if core_read is None:
        return result
    core, core_confidence = core_read
    result.core_found = True
    result.fields["isrc"] = unpack_isrc(core.isrc)
    result.confidence["isrc"] = core_confidence
    result.missing = [f for f in FIELDS if f not in result.fields]

    coded_settings = replace(settings, parity=core.parity)
    layout = BlockLayout.for_length(core.ext_length, coded_settings)
    total = layout.total_packets
    result.payload_bytes, result.blocks_total = core.ext_length, layout.blocks

    sums = np.zeros((total, k))
    seen = np.zeros(total, dtype=bool)
    for s, (seg, phi) in enumerate(zip(segs, phases, strict=True)):
        start = _align_data(seg, readers, total)
        if start is None:
            continue
        result.segment_offsets[s] = _schedule_offset(phi, start, settings, total)
        for g, llr in _pairs(seg, start, settings, total):
            sums[g] += llr
            seen[g] = True

    packets: dict[int, _Opened] = {}
    for g in np.flatnonzero(seen):
        opened = readers.data(sums[g], header(TYPE_DATA, int(g)))
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
                word = bytearray(received[pos].value[1][col] if pos in received else 0 for pos in range(n))
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
        result.missing = [f for f in FIELDS if f not in ordered]


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
