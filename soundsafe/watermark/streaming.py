"""Streaming embed and detect: audio in blocks of any size, state carried across blocks, bounded memory.

:class:`StreamingEmbedder` marks each whole chunk (1 s at any input rate) as soon as it is complete, so its
latency is at most one chunk (``latency_s``) plus the compute of one chunk; a tail shorter than a chunk leaves
unmarked at :meth:`~StreamingEmbedder.flush`. :class:`StreamingDetector` finds the chunk grid once
``sync_chunks + 1`` chunks have arrived (a NumPy shortlist of offsets, then exact reads; see
:mod:`soundsafe.watermark.sync`), then reads each chunk as soon as it is complete (a chunk that is not
clearly marked where predicted waits for two more hops, 20 ms, for the ±2-hop drift search), so a field is
reported when the chunk that completes it ends (+ 20 ms at most) plus one decode. When ``lost_after`` chunks
in a row show no mark (the marked song ended, an ad began) it searches the grid again, so marked audio that
starts mid-stream is found. At the stream's two edges it also reads the part of a chunk the audio holds (its
tile rows inside the audio, :func:`~soundsafe.watermark.sync.partial_statistics`) and gives those weaker soft
bits to the decoder, so a 3 s excerpt at any offset yields all three core segments. Told a ``tempo`` ≠ 1 (a
time-stretch or a pitch shift's, from :mod:`soundsafe.watermark.speed`), it reads each chunk as ``tempo`` × a
chunk of audio with its STFT frames warped to the stretch, and the edge partials at that tempo too.

The offline :func:`~soundsafe.watermark.api.embed`/``detect`` are these classes fed the whole file at once,
so streaming and offline results are the same computation: equal for 44.1 kHz input whatever the block sizes,
and within the streaming resampler's rounding for other rates. Only the model runs in the
:class:`~soundsafe.watermark.engine.Engine` (torch or ONNX Runtime); everything else is NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from soundsafe.audio.checks import AudioInputError, check_audio
from soundsafe.payload.decoder import DecodeResult, decode_stream
from soundsafe.payload.keys import DEMO_KEY, PayloadKey
from soundsafe.payload.packets import CodeSettings, encode_payload
from soundsafe.watermark.engine import Engine, load_engine
from soundsafe.watermark.host_spectral import warped_magnitude
from soundsafe.watermark.layout import carrier_layout
from soundsafe.watermark.sync import chunk_stride, grid_scores, mark_strength, partial_statistics

__all__ = ["Detection", "FieldEvent", "StreamingDetector", "StreamingEmbedder", "code_settings"]

_BATCH = 8  # chunks per model call: bounds memory on long inputs (and is the fastest size on a CPU)
MARK_THRESHOLD = 0.3  # mark strength for a chunk to count as marked (unmarked real music: median 0, 90 % < 0.17)
_LOCKED = 0.7  # a chunk this clearly marked at its predicted place needs no drift search
_SHORTLIST = 16  # grid offsets the rough search passes on to exact reads
_SHORTLIST_CHUNKS = 4  # chunks each shortlisted offset is read over
_SWITCH_MARGIN = 0.15  # a re-search moves to a new grid only when it scores this much above the current one
_SEARCH_HOPS = 2  # drift search: ± this many hops around the predicted chunk start
_DRIFT_HISTORY = 5  # marked chunks whose observed drift (chunk start vs the end of the last one) is tracked
_MAX_DRIFT_HOPS = 5  # the prediction follows drifts up to 5 hops (50 ms) per chunk: ±5 % tempo
_MAX_TEMPO_CHANGE = 0.06  # the ``tempo`` a detector can be told to expect (the speed search reaches 1 ± 0.05125)
_STREAM_HISTORY = 512  # chunks the live decoder looks back over (about four payload cycles)
_EAGER_CHUNKS = 16  # live decoding after every marked chunk for the first chunks of a grid (first ISRC fast) …
_LIVE_EVERY = 8  # … then after every 8th marked chunk (a decode over a long history costs tens of ms)


def code_settings(engine: Engine, settings: CodeSettings | None) -> CodeSettings:
    """``settings`` (default: the codec's, with the model's K) checked against the model's K."""
    settings = settings or CodeSettings(packet_bits=engine.config.bits)
    if settings.packet_bits != engine.config.bits:
        raise ValueError(f"code settings carry {settings.packet_bits}-bit packets but the model carries "
                         f"{engine.config.bits} bits per chunk")
    return settings


def _samples_per_chunk(sr: int, chunk_seconds: float) -> int:
    n = sr * chunk_seconds
    if abs(n - round(n)) > 1e-9:
        raise AudioInputError(f"a {chunk_seconds} s chunk is not a whole number of samples at {sr} Hz")
    return round(n)


def _resample_columns(x: np.ndarray, sr_in: int, sr_out: int, length: int) -> np.ndarray:
    """Resample each column of ``(frames, columns)`` independently, to exactly ``length`` frames."""
    if sr_in != sr_out:
        import soxr

        x = soxr.resample(x, sr_in, sr_out, quality="VHQ")
    return np.pad(x, ((0, max(0, length - x.shape[0])), (0, 0)))[:length].astype(np.float32, copy=False)


class StreamingEmbedder:
    """Watermark a stream of ``(frames, channels)`` blocks with ``metadata``; same rate and channels out."""

    def __init__(self, metadata: Mapping[str, Any], sr: int, key: PayloadKey = DEMO_KEY, model: Any = None,
                 settings: CodeSettings | None = None, start_chunk: int = 0) -> None:
        """``start_chunk``: the payload schedule position of the first chunk (to continue an earlier stream).
        Raises ``RecordError``/``PayloadTooLargeError`` for bad metadata before any audio is taken."""
        self.engine = load_engine(model)
        self.sr, self.key = sr, key
        self.encoded = encode_payload(dict(metadata), key, code_settings(self.engine, settings))
        self.chunk = _samples_per_chunk(sr, self.engine.config.chunk_seconds)
        self.position = start_chunk  # schedule position of the next chunk
        self.channels: int | None = None
        self._pending = np.zeros((0, 0), np.float32)

    @property
    def latency_s(self) -> float:
        """Worst-case delay between a sample going in and coming out (one chunk), compute time aside."""
        return self.engine.config.chunk_seconds

    def push(self, block: Any) -> np.ndarray:
        """Take a block; return the marked audio of every chunk completed so far (may be 0 frames)."""
        x = self._take(block)
        whole = x.shape[0] // self.chunk * self.chunk
        self._pending = x[whole:]
        return self._mark(x[:whole]) if whole else x[:0]

    def flush(self) -> np.ndarray:
        """End of stream: return the unmarked tail (shorter than a chunk)."""
        tail, self._pending = self._pending, self._pending[:0]
        return tail

    def _take(self, block: Any) -> np.ndarray:
        array = np.asarray(block)
        if array.size == 0:
            return self._pending
        x = check_audio(array, self.sr, what="embed")
        if self.channels is None:
            self.channels = x.shape[1]
            self._pending = np.zeros((0, self.channels), np.float32)
        elif x.shape[1] != self.channels:
            raise AudioInputError(f"embed: a block has {x.shape[1]} channel(s) but the stream has {self.channels}")
        return np.concatenate([self._pending, x]) if self._pending.size else x

    def _mark(self, x: np.ndarray) -> np.ndarray:
        c = self.engine.config
        count = x.shape[0] // self.chunk
        mono = x.mean(axis=1).reshape(count, self.chunk).T  # chunks as columns: resampled independently
        host = _resample_columns(mono, self.sr, c.sample_rate, c.chunk_samples).T
        bits = self.encoded.chunk_bits(count, self.position).astype(np.float32)
        mark = np.empty_like(host)
        for first in range(0, count, _BATCH):
            part = slice(first, first + _BATCH)
            mark[part] = self.engine.embed_chunks(host[part], bits[part], self.key.carrier_seed) - host[part]
        self.position += count
        mark_at_sr = _resample_columns(mark.T, c.sample_rate, self.sr, self.chunk).T.reshape(-1)
        return (x + mark_at_sr[:, None]).astype(np.float32)


@dataclass
class FieldEvent:
    """A field the detector decoded for the first time (or whose value changed), and when."""

    field: str
    value: Any
    confidence: float
    time_s: float  # stream time (s) at the end of the chunk that completed it

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "confidence": round(self.confidence, 4),
                "time_s": round(self.time_s, 3)}


@dataclass
class Detection:
    """What detection found: decoded fields and where in the audio the chunks it read start."""

    result: DecodeResult
    chunk_starts_s: list[float] = field(default_factory=list)  # every chunk read, marked or not
    marked: list[bool] = field(default_factory=list)
    strength: list[float] = field(default_factory=list)  # mark strength per chunk (sync.mark_strength)
    llr: np.ndarray | None = field(default=None, repr=False)  # (chunks, K) soft bits of every chunk read
    events: list[FieldEvent] = field(default_factory=list)  # fields in the order they were first decoded
    speed: float = 1.0  # speed-up factor undone before reading (api.detect's speed search), 1 = none
    pitch_only: bool = False  # the factor was a pitch shift's (tempo kept): read with chunks `speed` apart
    tempo: float = 1.0  # chunks were read ``tempo`` × a chunk apart (after undoing ``speed``): a time-stretch

    @property
    def marked_fraction(self) -> float:
        return float(np.mean(self.marked)) if self.marked else 0.0

    def first_time(self, name: str) -> float | None:
        """Stream time (s) at which field ``name`` was first reported, or None."""
        return next((e.time_s for e in self.events if e.field == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "marked_fraction": round(self.marked_fraction, 3),
                "speed": round(self.speed, 5), "pitch_only": self.pitch_only, "tempo": round(self.tempo, 5),
                "first_reported_s": {e.field: round(e.time_s, 3) for e in self.events},
                "chunks": [{"start_s": round(t, 3), "marked": m, "strength": round(s, 3)}
                           for t, m, s in zip(self.chunk_starts_s, self.marked, self.strength, strict=True)]}


class StreamingDetector:
    """Read the payload from a stream of blocks; :meth:`push` returns fields as soon as they decode."""

    def __init__(self, sr: int, key: PayloadKey = DEMO_KEY, model: Any = None,
                 settings: CodeSettings | None = None, *, sync_chunks: int = 2, lost_after: int = 3,
                 live: bool = True, tempo: float = 1.0) -> None:
        """``sync_chunks``: chunks the grid search averages over (more: surer, later first read; the offline
        ``detect`` uses 8). ``lost_after``: unmarked chunks in a row after which the grid is searched again.
        ``live``: decode while reading, so :meth:`push` reports fields as they arrive (after every marked chunk
        for the first 16 of a grid, then every 8th); without it, fields are decoded once, by :meth:`finish`.
        ``tempo``: chunks are expected ``tempo`` × a chunk apart (1.029: a +50 cent pitch shift whose pitch the
        speed search undid by resampling, which stretched its unchanged tempo); the grid search and the drift
        follower start from it instead of from no drift."""
        if sync_chunks < 1 or lost_after < 1:
            raise ValueError("sync_chunks and lost_after must be ≥ 1")
        if not 1 - _MAX_TEMPO_CHANGE <= tempo <= 1 + _MAX_TEMPO_CHANGE:
            raise ValueError(f"tempo must be within 1 ± {_MAX_TEMPO_CHANGE}, got {tempo}")
        self.engine = load_engine(model)
        self.sr, self.key = sr, key
        self.settings = code_settings(self.engine, settings)
        self.sync_chunks, self.lost_after, self.live = sync_chunks, lost_after, live
        self._marked_in_grid = 0
        c = self.engine.config
        self._n, self._hop, self._rate = c.chunk_samples, c.hop, c.sample_rate
        self._layout = carrier_layout(c, key.carrier_seed)
        self._resampler = None
        if sr != c.sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(sr, c.sample_rate, 1, dtype="float32", quality="VHQ")
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # stream sample (model rate) of _buf[0]
        self._position: int | None = None  # next chunk start, or None while the grid is unknown
        self._sync_from = 0
        self._last_grid: int | None = None
        self._unmarked_run = 0
        self._predicted: tuple[int, np.ndarray] | None = None  # (start, statistics) of the last predicted read
        self._tempo = tempo
        self._stride = chunk_stride(c, tempo)  # chunk start to chunk start, as ``tempo`` expects
        # a chunk read at a tempo ≠ 1 spans `tempo` × a chunk, its frames warped to where the stretch put them
        # (engines that take a spectrum; ONNX's self-contained graphs read the nominal chunk)
        self._warp = tempo != 1.0 and self.engine.takes_spectrum
        self._span = round(self._n * tempo) if self._warp else self._n
        # (read number, start) of the marked chunks read since the last grid search, and their count: the line
        # through them says where the stream's edge chunks lie and at what tempo (``_chunk_line``)
        self._run: list[tuple[int, int]] = []
        self._run_reads = 0
        # the stream's head partial: its audio, where that starts, its grid's run, the segment it opens
        self._head: tuple[np.ndarray, int, list[tuple[int, int]], int] | None = None
        # samples each chunk starts after the end of the last (a tempo change makes it ≠ 0)
        self._expected_drift = self._stride - self._n
        self._drift = self._expected_drift
        self._drifts: list[int] = []
        self._segments: list[list[np.ndarray | None]] = [[]]
        self._starts: list[float] = []
        self._marked: list[bool] = []
        self._strength: list[float] = []
        self._llr: list[np.ndarray] = []
        self._reported: dict[str, Any] = {}
        self.events: list[FieldEvent] = []
        self._finished = False

    @property
    def seconds_received(self) -> float:
        return (self._buf_start + self._buf.size) / self._rate

    def push(self, block: Any) -> list[FieldEvent]:
        """Take a block of audio ``(frames, channels)`` (or 1-D); return fields decoded because of it."""
        if self._finished:
            raise RuntimeError("this detector has finished; make a new one for a new stream")
        array = np.asarray(block)
        if array.size == 0:
            return []
        mono = check_audio(array, self.sr, what="detect").mean(axis=1)
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono, last=False)
        self._buf = np.concatenate([self._buf, mono.astype(np.float32, copy=False)])
        return self._process(final=False)

    def finish(self) -> Detection:
        """End of stream: read what is left and decode everything read (all chunks, not just recent ones)."""
        if not self._finished:
            if self._resampler is not None:
                tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
                self._buf = np.concatenate([self._buf, tail.astype(np.float32, copy=False)])
            self._process(final=True)
            segment = self._segments[-1]
            if self._head is not None and self._head[2]:
                # read the head partial again at the place and tempo its grid's whole chunks showed
                head, origin, run, opens = self._head
                first, stride = self._chunk_line(run)
                llr = self._edge_llr(head, first - stride - origin, stride / self._n)
                if llr is not None:
                    self._segments[opens][0] = llr
            if self._position is not None and segment and segment[-1] is not None and self._run:
                # the stream ends inside a chunk that follows a marked one: read the part it holds
                first, stride = self._chunk_line(self._run)
                at = first + stride * self._run_reads
                begin = max(self._buf_start, int(at) - _SEARCH_HOPS * self._hop)
                if 0 < self._end() - at < self._n:  # not read whole (a chunk at tempo < 1 may still fit)
                    llr = self._edge_llr(self._audio(begin, self._end() - begin), at - begin, stride / self._n)
                    if llr is not None:
                        self._segments[-1].append(llr)
            self._finished = True
        result = decode_stream(self._segments, self.key, self.settings)
        self._report(result, self.seconds_received)
        llr = np.array(self._llr).reshape(-1, self.engine.config.bits)
        return Detection(result, list(self._starts), list(self._marked), list(self._strength), llr,
                         list(self.events))

    # internals -------------------------------------------------------------------------------------------------
    def _end(self) -> int:
        return self._buf_start + self._buf.size

    def _audio(self, start: int, length: int) -> np.ndarray:
        return self._buf[start - self._buf_start: start - self._buf_start + length]

    def _process(self, final: bool) -> list[FieldEvent]:
        events: list[FieldEvent] = []
        while True:
            if self._position is None:
                if not self._sync(final):
                    break
            elif not self._read_next(final, events):
                break
        # keep half a chunk (and the drift search) behind the read position: a re-search starts there
        behind = self._n // 2 + 2 * _SEARCH_HOPS * self._hop
        keep = self._sync_from if self._position is None else self._position - behind
        drop = max(0, min(keep, self._end()) - self._buf_start)
        self._buf, self._buf_start = self._buf[drop:], self._buf_start + drop
        return events

    def _sync(self, final: bool) -> bool:
        n, stride, available = self._n, self._stride, self._end() - self._sync_from
        chunks = self.sync_chunks if not final else max(1, min(self.sync_chunks, available // stride - 1))
        need = (chunks + 1) * max(n, stride)  # every offset of a chunk, then `chunks` chunks
        if available < need and not (final and available >= n):
            return False
        region = self._audio(self._sync_from, min(available, need))
        offsets = [o for o in range(0, n, self._hop) if o + (chunks - 1) * stride + max(n, self._span) <= region.size]
        if not offsets:
            return False
        # the one-STFT search shortlists offsets and exact chunk reads (with the reliability network) decide;
        # a first search that finds no clear mark that way reads every offset (weak, attacked audio needs it)
        rough = grid_scores(region, self.engine.config, self._layout, chunks, offsets, stride)
        shortlist = [offsets[i] for i in np.argsort(-rough)[:_SHORTLIST]]
        expected = None if self._last_grid is None else self._last_grid - self._sync_from
        if expected in offsets and expected not in shortlist:
            shortlist.append(expected)
        scores = self._exact_scores(region, shortlist, min(chunks, _SHORTLIST_CHUNKS))
        if expected is None and scores.max() < MARK_THRESHOLD:
            shortlist, scores = offsets, self._exact_scores(region, offsets, chunks)
        start = self._sync_from + shortlist[int(np.argmax(scores))]
        if expected in shortlist and scores.max() < scores[shortlist.index(expected)] + _SWITCH_MARGIN:
            start = self._last_grid  # weak chunks (a codec, noise) are no reason to leave the grid
        # a chunk cut by the stream's start is read as a partial chunk below (its tile rows inside), never
        # shifted onto the audio: a chunk read 10-20 ms off its grid gives confident wrong bits
        first_grid = self._last_grid is None
        if self._last_grid is None or abs(start - self._last_grid) > _SEARCH_HOPS * self._hop:
            if self._segments[-1]:  # a new grid: the next chunk does not follow the last one read
                self._segments.append([])
            self._marked_in_grid = 0
            self._drift, self._drifts = self._expected_drift, []
        self._run, self._run_reads = [], 0
        if first_grid and start > self._buf_start:  # the stream opens inside a chunk: read the part it holds
            # at the expected tempo for now; finish() reads it again once whole chunks showed the real one
            head = self._audio(self._buf_start, start - self._buf_start).copy()
            llr = self._edge_llr(head, head.size - self._n * self._tempo, self._tempo)
            if llr is not None:
                self._segments[-1].insert(0, llr)
                self._head = (head, self._buf_start, self._run, len(self._segments) - 1)
        self._position = start
        return True

    def _edge_llr(self, audio: np.ndarray, start: float, tempo: float) -> np.ndarray | None:
        """Soft bits of a partial chunk at an edge of the stream (its tile rows inside ``audio``; the chunk starts
        at ``start`` of it), for decoding only: they are not a chunk read (not in ``Detection``'s chunk lists)."""
        stats = partial_statistics(audio, start, self.engine.config, self._layout, tempo)
        return None if stats is None else (stats * self.engine.llr_scale).astype(np.float64)

    def _chunk_line(self, run: list[tuple[int, int]]) -> tuple[float, float]:
        """``(first, stride)``: read k of ``run``'s grid starts at ``first + k · stride`` (samples). The stride is
        the expected one (``tempo``) unless the marked chunks' starts (whole hops) fit one half a hop or more
        away: a time-stretch the caller did not know of."""
        k, p = (np.array(v, np.float64) for v in zip(*run, strict=True))
        stride = self._n * self._tempo
        if len(run) > 1 and np.ptp(k) > 0:
            fitted = float(np.polyfit(k, p, 1)[0])
            if abs(fitted - stride) > self._hop / 2:
                stride = float(np.clip(fitted, self._n * (1 - _MAX_TEMPO_CHANGE), self._n * (1 + _MAX_TEMPO_CHANGE)))
        return float(np.mean(p - stride * k)), stride

    def _exact_scores(self, region: np.ndarray, offsets: list[int], chunks: int) -> np.ndarray:
        """Mean mark strength over ``chunks`` chunk reads at each offset of ``region``."""
        span, stride, scores = self._span, self._stride, []
        for first in range(0, len(offsets), _BATCH * 4):
            part = offsets[first: first + _BATCH * 4]
            reads = np.stack([region[o + i * stride: o + i * stride + span] for o in part for i in range(chunks)])
            stats = self._statistics(reads)
            scores.append(mark_strength(stats).reshape(len(part), chunks).mean(axis=1))
        return np.concatenate(scores)

    def _read_next(self, final: bool, events: list[FieldEvent]) -> bool:
        n, hop, p, span = self._n, self._hop, self._position, self._span
        assert p is not None
        if self._end() < p + span:
            return False
        if self._predicted is None or self._predicted[0] != p:  # kept while waiting for look-ahead
            self._predicted = (p, self._statistics(self._audio(p, span)[None]))
        stats = self._predicted[1]
        score = mark_strength(stats)
        if score[0] < _LOCKED:
            if self._end() < p + span + _SEARCH_HOPS * hop and not final:
                return False  # not clearly marked here: the drift search needs two hops of look-ahead
            candidates = [q for q in range(p - _SEARCH_HOPS * hop, p + (_SEARCH_HOPS + 1) * hop, hop)
                          if q >= max(0, self._buf_start) and q + span <= self._end()]
            stats = self._statistics(np.stack([self._audio(q, span) for q in candidates]))
            score = mark_strength(stats)
            best = int(np.argmax(score))
            p = candidates[best]
            stats, score = stats[best: best + 1], score[best: best + 1]
        strength = float(score[0])
        is_marked = strength >= MARK_THRESHOLD
        llr = (stats[0] * self.engine.llr_scale).astype(np.float64)
        self._starts.append(p / self._rate)
        self._marked.append(is_marked)
        self._strength.append(strength)
        self._llr.append(llr)
        self._segments[-1].append(llr if is_marked else None)
        if is_marked:
            self._run.append((self._run_reads, p))
        self._run_reads += 1
        if is_marked:  # follow a steady drift (time-stretch, pitch shift): predict where the next chunk starts
            self._drifts = [*self._drifts[-(_DRIFT_HISTORY - 1):], p - (self._position - self._drift)]
            limit = _MAX_DRIFT_HOPS * hop
            self._drift = int(np.clip(hop * round(float(np.median(self._drifts)) / hop), -limit, limit))
        self._last_grid = p + n
        self._position = p + n + self._drift
        self._unmarked_run = 0 if is_marked else self._unmarked_run + 1
        if is_marked:
            self._marked_in_grid += 1
            if self.live and (self._marked_in_grid <= _EAGER_CHUNKS or self._marked_in_grid % _LIVE_EVERY == 0):
                events.extend(self._report(self._recent(), (p + n) / self._rate))
        if self._unmarked_run >= self.lost_after:  # lost the mark: search again, centred on the expected grid
            self._sync_from = max(0, self._position - n // 2)
            self._position, self._unmarked_run = None, 0
        return True

    def _statistics(self, reads: np.ndarray) -> np.ndarray:
        """The model's statistics of whole chunks ``(B, span)``: at the nominal geometry, or at the tempo."""
        if not self._warp:
            return self.engine.statistics(reads, self.key.carrier_seed)
        c = self.engine.config
        magnitude = warped_magnitude(reads, c.n_fft, c.hop, 1 + c.frames, self._tempo)  # frames as stft gives
        return self.engine.magnitude_statistics(magnitude, self.key.carrier_seed)

    def _recent(self) -> DecodeResult:
        """Decode the last ``_STREAM_HISTORY`` chunks (live reports cost the same at any point of a long stream)."""
        recent, left = [], _STREAM_HISTORY
        for segment in reversed(self._segments):
            recent.insert(0, segment[-left:])
            left -= len(recent[0])
            if left <= 0:
                break
        return decode_stream(recent, self.key, self.settings)

    def _report(self, result: DecodeResult, time_s: float) -> list[FieldEvent]:
        new = []
        for name, value in result.fields.items():
            if self._reported.get(name, object()) != value:
                self._reported[name] = value
                new.append(FieldEvent(name, value, float(result.confidence.get(name, 0.0)), time_s))
        self.events.extend(new)
        return new
