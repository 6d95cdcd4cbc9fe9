"""The watermarkers the harness measures, behind one face: embed a clip, read it back.

- :class:`SoundSafeSystem`: the project's model through :func:`soundsafe.watermark.embed` / ``detect`` (the
  payload is the clip's rights record; presence means a packet passed its authentication tag);
- :class:`EchoSystem`: echo hiding or time-spread echo (``soundsafe.baselines.echo``) carrying a 64-bit message
  per clip, one bit per frame, cyclically;
- :class:`ExternalSystem`: any command-line watermarker (``soundsafe.baselines.external``).

Identification (``identifies``): SoundSafe names the ISRC (and the whole record); an external tool's one
message per clip is recovered when the embedded message is among those it reports (the tools are used with a
lookup: audiowmark's README has the user check each reported message against a database).

Bits are compared per *unit* (a chunk, a frame, or the whole message): ``Embedded.bits`` holds what each unit
carries, ``Reading.units`` says which unit each row of ``Reading.bits`` was read from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from soundsafe.baselines.echo import EchoConfig, embed_echo, read_echo
from soundsafe.baselines.external import ExternalTool
from soundsafe.payload.keys import PayloadKey

__all__ = ["EchoSystem", "Embedded", "ExternalSystem", "Reading", "SoundSafeSystem", "Watermarker",
           "bit_accuracy", "same_isrc"]


@dataclass
class Embedded:
    audio: np.ndarray
    bits: np.ndarray  # (units, bits per unit)
    payload_cycle_s: float | None = None  # audio needed to carry the whole payload once (field-carrying systems)


@dataclass
class Reading:
    detected: bool  # the system's own presence decision
    score: float  # its presence score (higher: more sure)
    bits: np.ndarray  # (rows, bits per unit) hard decisions
    units: np.ndarray  # (rows,) which embedded unit each row was read from
    fields: dict[str, Any] = field(default_factory=dict)
    complete: bool = False
    messages: list[np.ndarray] = field(default_factory=list)  # every message reported (external tools)


class Watermarker(Protocol):
    name: str
    carries_fields: bool  # reads back rights-record fields (else raw bits only)
    identifies: bool  # a read can name the clip: its ISRC, or a message looked up (``identified``)

    @property
    def bits_per_second(self) -> float: ...

    def embed(self, audio: np.ndarray, sr: int, record: Mapping[str, Any], seed: int) -> Embedded: ...

    def read(self, audio: np.ndarray, sr: int, speed_search: bool = False) -> Reading: ...

    def identified(self, embedded: Embedded, reading: Reading, record: Mapping[str, Any]) -> tuple[bool, bool | None]:
        """(the read names the clip, the read holds its whole record; None when the system cannot carry one)"""
        ...


def _accuracy(embedded_bits: np.ndarray, bits: np.ndarray, units: np.ndarray) -> float | None:
    ok = (units >= 0) & (units < embedded_bits.shape[0])
    return float((bits[ok] == embedded_bits[units[ok]]).mean()) if ok.any() else None


def bit_accuracy(embedded_bits: np.ndarray, reading: Reading, align: bool = False) -> float:
    """Share of bits read right, over the rows that map to an embedded unit; 0.5 (chance) when none do.

    ``align``: the rows' unit numbers may be off by a constant (a crop or cut moved the start). The shift is
    chosen on the even rows and the accuracy measured on the odd ones, so a failed read still scores about 0.5
    instead of the best of many tries.
    """
    if not align or reading.bits.shape[0] < 2:
        return _accuracy(embedded_bits, reading.bits, reading.units) or 0.5
    n = embedded_bits.shape[0]
    fit, held = slice(0, None, 2), slice(1, None, 2)
    best_shift, best = 0, -1.0
    for shift in sorted(range(-n + 1, n), key=abs):  # ties keep the smallest shift
        score = _accuracy(embedded_bits, reading.bits[fit], reading.units[fit] + shift)
        if score is not None and score > best:
            best_shift, best = shift, score
    return _accuracy(embedded_bits, reading.bits[held], reading.units[held] + best_shift) or 0.5


def same_isrc(found: Any, expected: str) -> bool:
    return isinstance(found, str) and found.replace("-", "").upper() == expected.replace("-", "").upper()


def _chunk_units(starts_s: np.ndarray, chunk_s: float) -> np.ndarray:
    """The embedded chunk each read chunk is: the next one when it starts about a chunk after the last (the
    detector followed the grid, also through a tempo change that moves it off whole seconds), else the nearest.
    ``starts_s`` are in the marked audio's time (a speed search's factor already undone)."""
    units = np.rint(starts_s / chunk_s).astype(np.int64)
    for i in range(1, len(units)):
        if abs(starts_s[i] - starts_s[i - 1] - chunk_s) <= 0.06 * chunk_s:  # up to the detector's drift range
            units[i] = units[i - 1] + 1
    return units


class SoundSafeSystem:
    """The project's watermark model (``model`` a path, a loaded model, or None for the pipeline's default)."""

    carries_fields = True
    identifies = True

    def __init__(self, model: Any = None, key: PayloadKey | None = None, name: str = "soundsafe") -> None:
        from soundsafe.watermark.checkpoint import load_model
        from soundsafe.watermark.model import WatermarkModel

        self.model, self.origin = (model, "given") if isinstance(model, WatermarkModel) else load_model(model)
        self.key = key or PayloadKey(b"soundsafe-evaluation-key-0123456")
        self.name = name

    @property
    def bits_per_second(self) -> float:
        return self.model.config.bits_per_second

    def embed(self, audio: np.ndarray, sr: int, record: Mapping[str, Any], seed: int) -> Embedded:
        from soundsafe.payload.packets import CodeSettings, encode_payload
        from soundsafe.watermark.api import embed

        c = self.model.config
        marked = embed(audio, sr, record, self.key, self.model)
        chunks = round(audio.shape[0] / sr * c.sample_rate) // c.chunk_samples
        encoded = encode_payload(dict(record), self.key, CodeSettings(packet_bits=c.bits))
        cycle = encoded.cycle_chunks * c.chunk_seconds
        return Embedded(marked, encoded.chunk_bits(chunks).astype(np.int64), cycle)

    def identified(self, embedded: Embedded, reading: Reading, record: Mapping[str, Any]) -> tuple[bool, bool | None]:
        return same_isrc(reading.fields.get("isrc"), record["isrc"]), bool(reading.complete)

    def read(self, audio: np.ndarray, sr: int, speed_search: bool = False) -> Reading:
        from soundsafe.watermark.api import detect

        found = detect(audio, sr, self.key, self.model, speed_search=speed_search)
        units = _chunk_units(np.asarray(found.chunk_starts_s) * found.speed, self.model.config.chunk_seconds)
        llr = found.llr if found.llr is not None else np.zeros((0, self.model.config.bits))
        return Reading(detected=found.result.core_found, score=found.marked_fraction,
                       bits=(llr > 0).astype(np.int64), units=units, fields=dict(found.result.fields),
                       complete=found.result.complete)


class EchoSystem:
    """An echo baseline carrying a 64-bit message per clip (drawn from the clip's seed), one bit per frame."""

    carries_fields = False
    identifies = False
    message_bits = 64

    def __init__(self, config: EchoConfig, name: str) -> None:
        self.config, self.name = config, name

    @property
    def bits_per_second(self) -> float:
        return self.config.bits_per_second

    def embed(self, audio: np.ndarray, sr: int, record: Mapping[str, Any], seed: int) -> Embedded:
        message = np.random.default_rng(seed).integers(0, 2, self.message_bits)
        frames = max(1, -(-audio.shape[0] // self.config.frame_samples(sr)))
        bits = message[np.arange(frames) % message.size][:, None]
        return Embedded(embed_echo(audio, sr, message, self.config), bits)

    def identified(self, embedded: Embedded, reading: Reading, record: Mapping[str, Any]) -> tuple[bool, bool | None]:
        return False, None

    def read(self, audio: np.ndarray, sr: int, speed_search: bool = False) -> Reading:
        r = read_echo(audio, sr, self.config)
        return Reading(detected=r.detected, score=r.statistic, bits=r.bits[:, None],
                       units=r.first_index + np.arange(r.bits.size))


class ExternalSystem:
    """A command-line watermarker carrying one ``payload_bits`` message per clip."""

    carries_fields = False
    identifies = True

    def __init__(self, tool: ExternalTool) -> None:
        self.tool, self.name = tool, tool.name

    @property
    def bits_per_second(self) -> float:
        return self.tool.bits_per_second

    def embed(self, audio: np.ndarray, sr: int, record: Mapping[str, Any], seed: int) -> Embedded:
        message = np.random.default_rng(seed).integers(0, 2, self.tool.payload_bits)
        return Embedded(self.tool.embed_audio(audio, sr, message), message[None, :])

    def identified(self, embedded: Embedded, reading: Reading, record: Mapping[str, Any]) -> tuple[bool, bool | None]:
        return any(np.array_equal(m, embedded.bits[0]) for m in reading.messages), None

    def read(self, audio: np.ndarray, sr: int, speed_search: bool = False) -> Reading:
        reports = self.tool.reports(audio, sr, speed_search)
        detections = [r for r in reports if not r.score < self.tool.min_score]
        messages = [r.bits for r in reports]
        if not reports:
            return Reading(False, 0.0, np.zeros((0, self.tool.payload_bits), np.int64), np.zeros(0, np.int64))
        # bits: the tool's best report (its first), the one a user without a lookup would take
        return Reading(bool(detections), max(r.score for r in reports) if not np.isnan(reports[0].score) else
                       float(len(detections)), reports[0].bits[None, :], np.zeros(1, np.int64), messages=messages)
