"""Named sets of attack points for the evaluation (``--attacks SET`` or ``params.yaml: evaluate.attacks``).

- ``smoke``: a handful of points, for tests and the ``ci`` profile;
- ``standard``: every family at the strengths the public benchmarks quote (RAW-Bench, AudioMarkBench): codecs at
  three bitrates, noise from 40 to 10 dB SNR, filters, resampling, dynamics, reverb, time edits, concert and
  layered chains;
- ``real``: issue 18's set for real music (what the ``local`` profile measures, SoundSafe and audiowmark side
  by side): codecs, resampling, noise, filters, level, speed / time-stretch / pitch, reverb, EQ, dynamics and
  MP3 + noise;
- ``full``: every registered attack at every strength.

A set may also be written out as a comma list: ``clean,mp3:128k,white_noise:20dB``.
"""

from __future__ import annotations

from soundsafe.attacks.registry import list_attacks

__all__ = ["SETS", "resolve_set"]

SETS: dict[str, list[str]] = {
    "smoke": ["clean", "mp3:128k", "white_noise:20dB", "resample:16kHz"],
    "standard": [
        "clean",
        "mp3:320k", "mp3:128k", "mp3:64k", "mp3_vbr:V5",
        "aac:256k", "aac:128k", "aac:64k",
        "opus:128k", "opus:64k", "opus:32k",
        "white_noise:40dB", "white_noise:30dB", "white_noise:20dB", "white_noise:10dB",
        "pink_noise:30dB", "pink_noise:20dB", "background:20dB",
        "lowpass:12kHz", "lowpass:8kHz", "lowpass:5kHz", "highpass:500Hz", "eq:±6dB",
        "gain:-6dB", "polarity:invert", "quantize:8bit", "resample:32kHz", "resample:16kHz",
        "compressor:medium", "limiter:-3dB", "hard_clip:-3dB",
        "reverb:club", "reverb:theatre", "reverb:hall",
        "speed:+1%", "time_stretch:+1%", "time_stretch:+5%", "pitch_shift:+10c", "pitch_shift:+100c",
        "crop:keep50%", "time_shift",
        "crowd", "concert", "layered", "radio", "reupload",
    ],
    "real": [
        "clean",
        "mp3:128k", "mp3:64k", "aac:128k", "opus:64k", "resample:22.05kHz",
        "white_noise:20dB", "lowpass:5kHz", "gain:-6dB",
        "speed:+2%", "speed:-2%", "time_stretch:+2%", "time_stretch:-2%", "pitch_shift:+50c", "pitch_shift:-50c",
        "reverb:club", "eq:±6dB", "compressor:medium", "limiter:-3dB", "mp3_noise:128k+30dB",
    ],
}


def resolve_set(spec: str) -> list[str]:
    """A set name (``smoke``, ``standard``, ``full``) or a comma list of ``attack[:strength]`` / ``clean``."""
    if spec == "full":
        return ["clean", *(f"{a.name}:{s.name}" for a in list_attacks() for s in a.strengths)]
    if spec in SETS:
        return list(SETS[spec])
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise ValueError(f"empty attack set {spec!r}; use one of {', '.join([*SETS, 'full'])} or a comma list")
    return items
