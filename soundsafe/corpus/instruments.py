"""Synthesized instrument voices with distinct spectra and envelopes.

Each voice is data (:class:`Voice`) played by one synthesizer: additive partials (harmonic, stretched or
inharmonic) under an ADSR or percussive envelope, optional FM, vibrato, breath/bow noise, and brightness that
follows the envelope. Different spectra and envelopes matter: a watermark trained on one timbre does not
generalize.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VOICES", "Voice", "render_note"]


@dataclass(frozen=True)
class Voice:
    """Synthesis parameters of one instrument voice."""

    partials: tuple[float, ...]  # amplitude of partial k = 1, 2, …
    ratios: tuple[float, ...] | None = None  # partial frequency ratios (default 1, 2, 3, …)
    stretch: float = 0.0  # piano-like inharmonicity B: f_k = k f0 sqrt(1 + B k²)
    attack: float = 0.01
    decay: float = 0.1
    sustain: float = 0.8
    release: float = 0.1
    percussive: float | None = None  # exponential decay time (s) instead of sustaining
    partial_damping: float = 0.0  # extra decay rate (1/s) per partial index: high partials die first
    brightness: float = 0.0  # partial k scaled by env^(brightness·(k-1)): brass-like opening
    fm_ratio: float = 0.0  # FM modulator ratio (0: additive only)
    fm_index: float = 0.0  # FM index at note onset, decays with the envelope
    vibrato_hz: float = 0.0
    vibrato_cents: float = 0.0
    noise: float = 0.0  # breath/bow/hammer noise level, relative
    midi_range: tuple[int, int] = (36, 96)  # notes are folded by octaves into this range
    gain: float = 1.0


VOICES: dict[str, Voice] = {
    "organ": Voice((1.0, 0.7, 0.45, 0.5, 0.0, 0.3, 0.0, 0.25), attack=0.02, decay=0.05, sustain=1.0, release=0.08,
                   midi_range=(36, 88), gain=0.6),
    "strings": Voice(tuple(1.0 / k for k in range(1, 13)), attack=0.12, decay=0.2, sustain=0.85, release=0.25,
                     vibrato_hz=5.5, vibrato_cents=14, noise=0.02, midi_range=(36, 96), gain=0.8),
    "fiddle": Voice(tuple((1.0 / k) * (1.3 if k in (3, 4) else 1.0) for k in range(1, 15)), attack=0.04, decay=0.1,
                    sustain=0.8, release=0.08, vibrato_hz=6.0, vibrato_cents=18, noise=0.04, midi_range=(55, 100)),
    "brass": Voice(tuple(1.0 / k**0.7 for k in range(1, 12)), attack=0.06, decay=0.15, sustain=0.8, release=0.12,
                   brightness=1.2, vibrato_hz=5.0, vibrato_cents=6, midi_range=(40, 84), gain=0.7),
    "clarinet": Voice((1.0, 0.05, 0.6, 0.04, 0.35, 0.03, 0.2, 0.02, 0.1), attack=0.05, decay=0.1, sustain=0.9,
                      release=0.1, noise=0.015, midi_range=(50, 91)),
    "flute": Voice((1.0, 0.25, 0.08, 0.03), attack=0.07, decay=0.1, sustain=0.9, release=0.12, vibrato_hz=5.0,
                   vibrato_cents=12, noise=0.06, midi_range=(60, 98)),
    "recorder": Voice((1.0, 0.12, 0.15, 0.02), attack=0.03, decay=0.05, sustain=0.95, release=0.06, noise=0.05,
                      midi_range=(60, 96)),
    "accordion": Voice(tuple(0.8 ** k for k in range(10)), attack=0.05, decay=0.1, sustain=0.9, release=0.1,
                       vibrato_hz=7.0, vibrato_cents=9, midi_range=(48, 88), gain=0.7),
    "choir_pad": Voice((1.0, 0.5, 0.35, 0.1, 0.15, 0.05), attack=0.25, decay=0.3, sustain=0.85, release=0.4,
                       vibrato_hz=4.8, vibrato_cents=10, noise=0.03, midi_range=(43, 84), gain=0.8),
    "piano": Voice(tuple(1.0 / k**1.1 for k in range(1, 16)), stretch=0.0004, percussive=1.6, partial_damping=0.9,
                   attack=0.003, release=0.15, noise=0.01, midi_range=(28, 100)),
    "epiano": Voice((1.0, 0.1), fm_ratio=1.0, fm_index=3.0, percussive=1.2, attack=0.002, release=0.2,
                    midi_range=(36, 96)),
    "pluck": Voice(tuple(1.0 / k for k in range(1, 14)), percussive=0.9, partial_damping=2.5, attack=0.002,
                   release=0.05, noise=0.02, midi_range=(40, 88)),
    "mallet": Voice((1.0, 0.35, 0.15, 0.06), ratios=(1.0, 3.93, 9.54, 16.0), percussive=0.6, partial_damping=6.0,
                    attack=0.001, release=0.1, midi_range=(53, 96)),
    "bass": Voice((1.0, 0.45, 0.2, 0.1, 0.05), percussive=1.5, partial_damping=1.5, attack=0.005, release=0.08,
                  midi_range=(28, 55), gain=1.2),
}


def _envelope(voice: Voice, n_hold: int, n_total: int, sr: int) -> np.ndarray:
    t = np.arange(n_total) / sr
    a = max(voice.attack, 1e-3)
    if voice.percussive is not None:
        env = np.minimum(t / a, 1.0) * np.exp(-np.maximum(t - a, 0.0) / voice.percussive)
    else:
        d = max(voice.decay, 1e-3)
        env = np.where(t < a, t / a, np.maximum(voice.sustain, 1.0 - (1.0 - voice.sustain) * (t - a) / d))
    # Release: a linear fade to zero after the note's written duration.
    tail = np.ones(n_total)
    tail[n_hold:] = np.linspace(1.0, 0.0, n_total - n_hold)
    return env * tail


def render_note(voice: Voice, midi: int, seconds: float, velocity: float, sr: int,
                rng: np.random.Generator) -> np.ndarray:
    """One note as a mono float64 signal (written duration plus the voice's release)."""
    lo, hi = voice.midi_range
    while midi < lo:
        midi += 12
    while midi > hi:
        midi -= 12
    n_hold = max(int(seconds * sr), 1)
    n_total = n_hold + int(voice.release * sr)
    t = np.arange(n_total) / sr
    env = _envelope(voice, n_hold, n_total, sr)
    f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0) * 2.0 ** (rng.normal(0, 3) / 1200)  # slight detune per note
    if voice.vibrato_cents:
        ramp = np.minimum(t / 0.3, 1.0)  # vibrato fades in, as players do
        depth = (2.0 ** (voice.vibrato_cents / 1200) - 1.0) * ramp
        inst = f0 * (1.0 + depth * np.sin(2 * np.pi * voice.vibrato_hz * t + rng.uniform(0, 2 * np.pi)))
        phase = 2 * np.pi * np.cumsum(inst) / sr
    else:
        phase = 2 * np.pi * f0 * t
    out = np.zeros(n_total)
    if voice.fm_ratio:
        index = voice.fm_index * velocity * env
        out += np.sin(phase + index * np.sin(voice.fm_ratio * phase))
        for k, amp in enumerate(voice.partials[1:], start=2):
            out += amp * np.sin(k * phase) * env
    else:
        for k, amp in enumerate(voice.partials, start=1):
            ratio = voice.ratios[k - 1] if voice.ratios and k <= len(voice.ratios) else k
            ratio *= np.sqrt(1.0 + voice.stretch * k * k)
            if ratio * f0 >= 0.45 * sr or amp == 0.0:
                continue
            partial = amp * np.sin(ratio * phase + rng.uniform(0, 2 * np.pi))
            if voice.partial_damping:
                partial *= np.exp(-voice.partial_damping * (k - 1) * t)
            if voice.brightness:
                partial *= env ** (voice.brightness * (k - 1))
            out += partial
    if voice.noise:
        noise = rng.standard_normal(n_total)
        noise = np.convolve(noise, np.ones(4) / 4, mode="same")  # soften: breath, not hiss
        out += voice.noise * noise * (4.0 * np.exp(-t / 0.05) + 1.0)
    return voice.gain * velocity * env * out / max(1.0, float(np.sum(voice.partials)) ** 0.5)
