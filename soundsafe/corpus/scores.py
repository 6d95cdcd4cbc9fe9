"""Compositions from the score corpus that ships inside ``music21``: which pieces, and their notes.

Pieces are drawn from several styles (Bach chorales, Renaissance masses and madrigals, Trecento songs, fiddle
tunes, classical and romantic chamber music, ragtime) so the demo corpus is not one kind of sound. Single-line
tunes get a generated bass and chord accompaniment so every track is a full arrangement.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["STYLES", "NoteEvent", "Piece", "Style", "candidate_pool", "load_piece"]


@dataclass(frozen=True)
class Style:
    """How a corpus folder is arranged: its genre label, tempo range (quarter notes/min), drum probability."""

    folders: tuple[str, ...]
    genre: str
    tempo_qpm: tuple[float, float]
    drum_probability: float
    palette: tuple[str, ...]  # instrument voices to choose from (names in instruments.VOICES)
    weight: int  # share of tracks drawn from this style


STYLES: dict[str, Style] = {
    "chorale": Style(("bach",), "Classical", (60, 96), 0.35,
                     ("organ", "strings", "brass", "clarinet", "flute", "epiano", "choir_pad"), 3),
    "fiddle": Style(("ryansMammoth",), "Folk", (150, 220), 0.85,
                    ("fiddle", "flute", "pluck", "accordion", "mallet"), 3),
    "chamber": Style(("mozart", "haydn", "beethoven", "schubert", "schumann_robert", "schumann_clara", "cpebach",
                      "handel", "corelli", "weber", "verdi", "beach", "chopin", "joplin", "johnson_j_r"),
                     "Classical", (80, 140), 0.2, ("strings", "piano", "flute", "clarinet", "epiano", "pluck"), 2),
    "renaissance": Style(("palestrina", "josquin", "lusitano"), "Early Music", (120, 170), 0.0,
                         ("choir_pad", "organ", "recorder", "brass", "strings"), 1),
    "madrigal": Style(("monteverdi",), "Early Music", (90, 130), 0.1,
                      ("choir_pad", "recorder", "pluck", "strings", "clarinet"), 1),
    "medieval": Style(("trecento", "ciconia"), "Early Music", (100, 150), 0.3,
                      ("recorder", "fiddle", "pluck", "mallet", "organ"), 1),
}

_SCORE_SUFFIXES = {".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mid", ".midi"}
_MAX_FILE_BYTES = {".mxl": 40_000}  # compressed MusicXML: big quartets parse for seconds
_MAX_PLAIN_BYTES = 250_000  # and we only play a minute of any piece


@dataclass(frozen=True)
class NoteEvent:
    """A note in score time: start and duration in quarter lengths, MIDI pitch, velocity in (0, 1]."""

    start_q: float
    dur_q: float
    midi: int
    velocity: float


@dataclass(frozen=True)
class Piece:
    """A parsed composition, reduced to what the renderer needs."""

    source: str  # path inside the music21 corpus, e.g. "bach/bwv66.6.mxl"
    style: str
    title: str
    composer: str
    parts: tuple[tuple[NoteEvent, ...], ...]  # highest part first
    bar_q: float  # bar length in quarter notes
    beat_q: float  # beat length in quarter notes (1.5 in compound meters)
    downbeat_q: float  # offset of the first full bar's downbeat (after a pickup)
    length_q: float
    tempo_qpm: float | None  # from the score's metronome mark, when it has one


def _corpus_root() -> Path:
    from music21 import common

    return Path(common.getCorpusFilePath())


def candidate_pool(style: str) -> list[str]:
    """Sorted corpus paths (relative to the corpus root) usable for ``style``."""
    root = _corpus_root()
    found = []
    for folder in STYLES[style].folders:
        for path in sorted((root / folder).rglob("*")):
            suffix = path.suffix.lower()
            if suffix in _SCORE_SUFFIXES and path.stat().st_size <= _MAX_FILE_BYTES.get(suffix, _MAX_PLAIN_BYTES):
                found.append(path.relative_to(root).as_posix())
    return found


_COMPOSERS = {
    "bach": "Johann Sebastian Bach", "ryansMammoth": "Traditional", "mozart": "Wolfgang Amadeus Mozart",
    "haydn": "Joseph Haydn", "beethoven": "Ludwig van Beethoven", "schubert": "Franz Schubert",
    "schumann_robert": "Robert Schumann", "schumann_clara": "Clara Schumann", "cpebach": "Carl Philipp Emanuel Bach",
    "handel": "George Frideric Handel", "corelli": "Arcangelo Corelli", "weber": "Carl Maria von Weber",
    "verdi": "Giuseppe Verdi", "beach": "Amy Beach", "chopin": "Frederic Chopin", "joplin": "Scott Joplin",
    "johnson_j_r": "J. Rosamond Johnson", "palestrina": "Giovanni Pierluigi da Palestrina",
    "josquin": "Josquin des Prez", "lusitano": "Vicente Lusitano", "monteverdi": "Claudio Monteverdi",
    "trecento": "Anonymous (Trecento)", "ciconia": "Johannes Ciconia",
}


def load_piece(source: str, style: str) -> Piece:
    """Parse ``source`` from the music21 corpus; raises ValueError when it has no playable notes."""
    from music21 import corpus, meter, tempo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21 warns about unusual notation it can still read
        score = corpus.parse(source)
        if hasattr(score, "scores"):  # an Opus (a collection of tunes): take its first tune
            score = score.scores[0]
        score = score.stripTies()
    parts = []
    for part in score.parts:
        events = []
        for note in part.flatten().notes:
            dur = float(note.quarterLength)
            if dur <= 0:  # grace notes and chord symbols carry no duration
                continue
            for pitch in note.pitches:
                events.append(NoteEvent(float(note.offset), dur, round(pitch.ps), 1.0))
        if events:
            parts.append(tuple(sorted(events, key=lambda e: (e.start_q, e.midi))))
    if not parts:
        raise ValueError(f"{source}: no notes")
    parts.sort(key=lambda p: -float(np.mean([e.midi for e in p])))
    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    ts = signatures[0] if signatures else meter.TimeSignature("4/4")
    bar_q = float(ts.barDuration.quarterLength)
    beat_q = float(ts.beatDuration.quarterLength)
    first_measure = score.parts[0].getElementsByClass("Measure").first()
    pad = float(first_measure.paddingLeft) if first_measure is not None else 0.0
    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    qpm = float(marks[0].getQuarterBPM()) if marks and marks[0].number else None
    length_q = max(e.start_q + e.dur_q for p in parts for e in p)
    folder = source.split("/")[0]
    title = (score.metadata.title if score.metadata and score.metadata.title else None) or Path(source).stem
    piece = Piece(source, style, str(title), _COMPOSERS.get(folder, "Anonymous"), tuple(parts), bar_q, beat_q,
                  (bar_q - pad) % bar_q if pad else 0.0, float(length_q), qpm)
    return _with_accompaniment(piece, score) if len(parts) == 1 else piece


# Triads as scale degrees (semitones above the tonic) in major and minor keys.
_CHORDS = {
    "major": ((0, 4, 7), (5, 9, 0), (7, 11, 2), (9, 0, 4)),
    "minor": ((0, 3, 7), (5, 8, 0), (7, 11, 2), (3, 7, 10)),
}


def _with_accompaniment(piece: Piece, score: object) -> Piece:
    """Add a bass line and sustained chords to a single-line tune: per bar, the triad among I, IV, V, vi
    (i, iv, V, III in minor) that covers the most melody time."""
    key = score.analyze("key")  # type: ignore[attr-defined]
    tonic = key.tonic.pitchClass
    chords = _CHORDS["minor" if key.mode == "minor" else "major"]
    melody = piece.parts[0]
    bass: list[NoteEvent] = []
    pad: list[NoteEvent] = []
    bar = piece.bar_q
    start = piece.downbeat_q - bar if piece.downbeat_q > 0 else 0.0
    while start < piece.length_q:
        weights = np.zeros(12)
        for e in melody:
            overlap = min(e.start_q + e.dur_q, start + bar) - max(e.start_q, start)
            if overlap > 0:
                weights[e.midi % 12] += overlap
        scores = [sum(weights[(tonic + d) % 12] for d in chord) for chord in chords]
        chord = chords[int(np.argmax(scores))] if weights.sum() > 0 else chords[0]
        root = (tonic + chord[0]) % 12
        bar_start = max(start, 0.0)  # a pickup bar starts at 0 and is shorter
        bar_len = start + bar - bar_start
        bass.append(NoteEvent(bar_start, bar_len / 2, 36 + root, 0.9))
        bass.append(NoteEvent(bar_start + bar_len / 2, bar_len / 2, 36 + (root + 7) % 12, 0.75))
        for degree in chord:
            pad.append(NoteEvent(bar_start, bar_len, 55 + (tonic + degree) % 12, 0.55))
        start += bar
    return Piece(piece.source, piece.style, piece.title, piece.composer,
                 (melody, tuple(pad), tuple(bass)), piece.bar_q, piece.beat_q, piece.downbeat_q,
                 piece.length_q, piece.tempo_qpm)
