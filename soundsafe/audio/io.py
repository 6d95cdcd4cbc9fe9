"""Read any common audio file, resample, and write WAV atomically.

Audio arrays are float32 shaped ``(frames, channels)`` in [-1, 1]. libsndfile (via ``soundfile``) reads WAV,
FLAC, OGG/Vorbis, Opus-in-OGG and MP3; FFmpeg (via PyAV) covers the rest (AAC/M4A, WMA, …).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from soundsafe.atomic import atomic_path

__all__ = ["AUDIO_EXTENSIONS", "AudioReadError", "read_audio", "resample", "write_wav"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff")


class AudioReadError(RuntimeError):
    """A file could not be decoded as audio."""


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode ``path`` to float32 ``(frames, channels)`` and its sample rate, or raise :class:`AudioReadError`."""
    path = Path(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return data, int(sr)
    except (sf.LibsndfileError, RuntimeError, TypeError) as sf_error:
        try:
            return _read_with_ffmpeg(path)
        except Exception as av_error:  # PyAV raises many types; the message is what the user needs
            reason = f"libsndfile: {sf_error}; ffmpeg: {av_error}"
            raise AudioReadError(f"{path}: not readable as audio ({reason})") from None


def _read_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioReadError("no audio stream")
        stream = container.streams.audio[0]
        sr = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout.name, rate=sr)
        chunks = [
            out.to_ndarray()
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
    if not chunks:
        raise AudioReadError("no decodable audio frames")
    return np.concatenate(chunks, axis=1).T.astype(np.float32, copy=False), int(sr)


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """High-quality resampling (soxr VHQ) of ``(frames, channels)`` audio; a no-op when rates match."""
    if sr_in == sr_out:
        return audio
    import soxr

    return soxr.resample(audio, sr_in, sr_out, quality="VHQ").astype(np.float32, copy=False)


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    """Write ``(frames, channels)`` audio as WAV atomically (clipped to [-1, 1] for integer subtypes)."""
    if subtype.startswith("PCM"):
        audio = np.clip(audio, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio, sr, subtype=subtype, format="WAV")
