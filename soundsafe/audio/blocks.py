"""Audio in blocks: WAV streams on pipes (stdin/stdout) and files read or written a block at a time.

``soundsafe embed - -`` and ``soundsafe detect -`` speak WAV on stdin/stdout: a pipe cannot seek, so
:class:`WavStreamReader` parses the RIFF header itself and reads the data to end of stream (a data size of 0 or
0xFFFFFFFF, what streaming writers put there, means "until EOF"), and :class:`WavStreamWriter` writes those
placeholder sizes and fixes them at close when its output can seek (a redirected file). Files go through
libsndfile block by block (FFmpeg-only formats such as M4A are decoded whole), so long files take bounded memory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

__all__ = ["WavStreamError", "WavStreamReader", "WavStreamWriter", "read_blocks"]

_UNKNOWN = 0xFFFFFFFF
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


class WavStreamError(ValueError):
    """The stream is not a WAV this reader understands."""


class WavStreamReader:
    """Read PCM (8/16/24/32-bit) or float (32/64-bit) WAV from a non-seekable binary stream."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        riff = self._exact(12, "RIFF header")
        if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise WavStreamError("input is not a RIFF/WAVE stream (send WAV, e.g. `ffmpeg -i x.mp3 -f wav -`)")
        fmt = None
        while True:
            tag, size = struct.unpack("<4sI", self._exact(8, "chunk header"))
            if tag == b"fmt ":
                fmt = self._exact(size + (size & 1), "fmt chunk")
            elif tag == b"data":
                break
            else:
                self._exact(size + (size & 1), f"{tag!r} chunk")
        if fmt is None:
            raise WavStreamError("WAV stream has no fmt chunk before its data")
        code, self.channels, self.sr, _, self._align, self._bits = struct.unpack("<HHIIHH", fmt[:16])
        if code == _EXTENSIBLE and len(fmt) >= 26:
            code = struct.unpack("<H", fmt[24:26])[0]
        if (code, self._bits) not in {(_PCM, 8), (_PCM, 16), (_PCM, 24), (_PCM, 32), (_FLOAT, 32), (_FLOAT, 64)}:
            raise WavStreamError(f"unsupported WAV encoding (format {code}, {self._bits} bits); use PCM or float")
        self._float = code == _FLOAT
        self._left = None if size in (0, _UNKNOWN) else size

    def _exact(self, n: int, what: str) -> bytes:
        data = self._stream.read(n)
        if len(data) != n:
            raise WavStreamError(f"WAV stream ended inside its {what}")
        return data

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames as float32 ``(frames, channels)``; 0 frames at the end of the stream."""
        want = frames * self._align if self._left is None else min(frames * self._align, self._left)
        raw = b""
        while len(raw) < want:
            more = self._stream.read(want - len(raw))
            if not more:
                break
            raw += more
        raw = raw[: len(raw) // self._align * self._align]
        if self._left is not None:
            self._left -= len(raw)
        return _decode(raw, self._bits, self._float, self.channels)

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        while (block := self.read(frames)).shape[0]:
            yield block


def _decode(raw: bytes, bits: int, is_float: bool, channels: int) -> np.ndarray:
    if is_float:
        data = np.frombuffer(raw, "<f4" if bits == 32 else "<f8").astype(np.float32)
    elif bits == 8:
        data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    elif bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        data = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 2**23
    else:
        data = np.frombuffer(raw, "<i2" if bits == 16 else "<i4").astype(np.float32) / 2 ** (bits - 1)
    return data.reshape(-1, channels)


class WavStreamWriter:
    """Write 16-bit PCM or 32-bit float WAV to a binary stream, a block at a time."""

    def __init__(self, stream: BinaryIO, sr: int, channels: int, subtype: str = "PCM_16") -> None:
        if subtype not in ("PCM_16", "FLOAT"):
            raise ValueError(f"subtype must be PCM_16 or FLOAT, got {subtype!r}")
        self._stream, self._float, self._bytes = stream, subtype == "FLOAT", 0
        bits = 32 if self._float else 16
        align = channels * bits // 8
        stream.write(struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", _UNKNOWN, b"WAVE", b"fmt ", 16,
                                 _FLOAT if self._float else _PCM, channels, sr, sr * align, align, bits,
                                 b"data", _UNKNOWN))

    def write(self, audio: np.ndarray) -> None:
        if self._float:
            raw = np.asarray(audio, "<f4").tobytes()
        else:
            raw = np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
        self._stream.write(raw)
        self._bytes += len(raw)

    def close(self) -> None:
        """Flush; when the output can seek, replace the placeholder sizes with the real ones."""
        self._stream.flush()
        try:
            if self._stream.seekable():
                end = self._stream.tell()
                self._stream.seek(4)
                self._stream.write(struct.pack("<I", min(36 + self._bytes, _UNKNOWN)))
                self._stream.seek(40)
                self._stream.write(struct.pack("<I", min(self._bytes, _UNKNOWN)))
                self._stream.seek(end)
                self._stream.flush()
        except OSError:
            pass  # a pipe that claims to seek: the placeholders stay, readers take "until EOF"


def read_blocks(path: str | Path, seconds: float = 1.0) -> tuple[int, int, Iterator[np.ndarray]]:
    """``(sr, channels, blocks)`` of an audio file, ``seconds`` per block (libsndfile formats read lazily)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        from soundsafe.audio.io import read_audio

        audio, sr = read_audio(path)  # FFmpeg-only format: decoded whole
        step = max(1, int(sr * seconds))
        return sr, audio.shape[1], (audio[i: i + step] for i in range(0, audio.shape[0], step))
    step = max(1, int(info.samplerate * seconds))

    def blocks() -> Iterator[np.ndarray]:
        with sf.SoundFile(str(path)) as f:
            while (block := f.read(step, dtype="float32", always_2d=True)).shape[0]:
                yield block

    return int(info.samplerate), int(info.channels), blocks()
