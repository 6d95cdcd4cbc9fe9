"""Arrange a parsed piece and render it to a stereo 44.1 kHz mix.

An :class:`Arrangement` is every random choice made for a track (tempo, transposition, instruments, pans,
drums, room, level), drawn from a seeded generator, so the same seed always renders the same audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundsafe.corpus.drums import DrumKit, drum_hits
from soundsafe.corpus.instruments import VOICES, render_note
from soundsafe.corpus.room import add_room
from soundsafe.corpus.scores import STYLES, Piece

__all__ = ["Arrangement", "arrange", "render"]


@dataclass(frozen=True)
class Arrangement:
    """The choices that turn a score into a particular recording."""

    tempo_qpm: float
    transpose: int
    voices: tuple[str, ...]  # one per part
    pans: tuple[float, ...]  # -1 (left) … +1 (right), one per part
    drums: bool
    rt60: float
    wet: float
    peak_dbfs: float
    swing: float  # delay of off-beat eighths, in quarter notes


def arrange(piece: Piece, rng: np.random.Generator) -> Arrangement:
    """Draw an arrangement for ``piece`` in its style."""
    style = STYLES[piece.style]
    lo, hi = style.tempo_qpm
    tempo = piece.tempo_qpm * rng.uniform(0.9, 1.1) if piece.tempo_qpm else rng.uniform(lo, hi)
    palette = list(style.palette)
    rng.shuffle(palette)
    n = len(piece.parts)
    voices = [palette[i % len(palette)] for i in range(n)]
    if n >= 3 and rng.random() < 0.7:  # the lowest part often goes to a bass voice
        voices[-1] = "bass"
    pans = np.linspace(-0.7, 0.7, n) if n > 1 else np.zeros(1)
    rng.shuffle(pans)
    drums = rng.random() < style.drum_probability
    return Arrangement(
        tempo_qpm=float(np.clip(tempo, 40, 260)),
        transpose=int(rng.integers(-5, 7)),
        voices=tuple(voices),
        pans=tuple(float(p) for p in pans),
        drums=bool(drums),
        rt60=float(rng.uniform(0.25, 2.2)),
        wet=float(rng.uniform(0.08, 0.35)),
        peak_dbfs=float(rng.uniform(-6.0, -1.0)),
        swing=float(rng.choice([0.0, 0.0, 0.08])) if drums else 0.0,
    )


def render(piece: Piece, arr: Arrangement, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Render ``seconds`` of the arranged piece as float32 ``(frames, 2)``; looped when the piece is shorter."""
    q_seconds = 60.0 / arr.tempo_qpm
    window_q = seconds / q_seconds
    n = round(seconds * sr)
    mix = np.zeros((n + sr, 2))  # one second of headroom for release tails
    # Begin on the bar of the first note (skipping a pickup or a late entry): no silent intro.
    first_q = min(e.start_q for part in piece.parts for e in part)
    start_q = piece.downbeat_q + max(np.floor((first_q - piece.downbeat_q) / piece.bar_q), 0) * piece.bar_q
    loops = int(np.ceil((window_q + start_q) / piece.length_q))

    def place(signal: np.ndarray, at_q: float, pan: float) -> None:
        at = round((at_q - start_q) * q_seconds * sr)
        if at < 0 or at >= n:
            return
        seg = signal[: mix.shape[0] - at]
        angle = (pan + 1.0) * np.pi / 4  # constant-power pan law
        mix[at : at + seg.size, 0] += np.cos(angle) * seg
        mix[at : at + seg.size, 1] += np.sin(angle) * seg

    for loop in range(loops):
        offset = loop * piece.length_q
        for part, voice_name, pan in zip(piece.parts, arr.voices, arr.pans, strict=True):
            voice = VOICES[voice_name]
            for event in part:
                at_q = event.start_q + offset
                if not start_q <= at_q < start_q + window_q:
                    continue
                at_q += _swing(at_q - piece.downbeat_q, arr.swing)
                accent = 1.0 if abs((at_q - piece.downbeat_q) % piece.bar_q) < 1e-6 else 0.85
                velocity = float(np.clip(event.velocity * accent * rng.uniform(0.85, 1.0), 0.05, 1.0))
                note = render_note(voice, event.midi + arr.transpose, event.dur_q * q_seconds * 0.95, velocity, sr, rng)
                place(note, at_q + rng.normal(0, 0.004) / q_seconds, pan)  # a few ms of human timing
    if arr.drums:
        kit = DrumKit(sr, rng)
        for loop in range(loops):
            offset = loop * piece.length_q
            for t_q, drum, velocity in drum_hits(piece.bar_q, piece.beat_q, piece.downbeat_q, piece.length_q, rng):
                at_q = t_q + offset
                if start_q <= at_q < start_q + window_q:
                    pan = {"kick": 0.0, "snare": -0.1, "hat": 0.35, "open_hat": 0.35}[drum]
                    place(0.7 * velocity * kit.samples[drum], at_q + _swing(at_q - piece.downbeat_q, arr.swing), pan)
    audio = add_room(mix[:n], sr, arr.rt60, arr.wet, rng)
    fade = min(int(0.3 * sr), n // 4)
    if fade > 0:
        audio[-fade:] *= np.linspace(1.0, 0.0, fade)[:, None]
    peak = float(np.max(np.abs(audio))) or 1.0
    return (audio * (10 ** (arr.peak_dbfs / 20) / peak)).astype(np.float32)


def _swing(q_in_bar: float, swing: float) -> float:
    """Delay off-beat eighth notes by ``swing`` quarter notes."""
    return swing if swing and abs((q_in_bar % 1.0) - 0.5) < 1e-6 else 0.0
