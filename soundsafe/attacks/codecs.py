"""Real lossy codecs, encoded and decoded in memory: MP3 (LAME, via pedalboard), AAC and Opus (FFmpeg, via PyAV).

Conversions (documented, not errors):
- Sample rate: a rate the codec cannot code is resampled (soxr) to the nearest rate it can and back; Opus always
  codes at 48 kHz, as every Opus pipeline does.
- Channels: the codecs code mono or stereo; more channels are coded as stereo pairs (and a last mono channel).
- Length: the encoder's delay is measured once per setting (on a probe signal) and removed, and the output is
  trimmed or zero-padded to the input length, so the result lines up sample for sample with the input.
Errors: a bitrate the codec cannot reach at the given rate (e.g. MP3 320 kbps at 22.05 kHz) raises
:class:`AttackInputError` with the allowed range.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from soundsafe.attacks.base import Attack, AttackInputError, Strength, match_length
from soundsafe.audio.io import resample

__all__ = ["ATTACKS", "CODEC_RATES", "CodecResult", "encode_decode", "straight_through_codec"]

Codec = Literal["mp3", "aac", "opus"]

CODEC_RATES: dict[str, tuple[int, ...]] = {
    "mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
    "aac": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000),
    "opus": (48000,),
}

# MP3 bitrate limits per MPEG version (kbps): MPEG-1 for 32–48 kHz, MPEG-2 for 16–24 kHz, MPEG-2.5 below.
_MP3_KBPS = {32000: (32, 320), 16000: (8, 160), 8000: (8, 64)}
_MAX_DELAY = 8192  # frames; every codec here delays by far less (LAME ~1105, AAC 1024, Opus 312 at 48 kHz)


@dataclass(frozen=True)
class CodecResult:
    """Decoded audio aligned to the input, and the coded bitrate actually produced (kbps)."""

    audio: np.ndarray
    kbps: float
    coded_rate: int


def encode_decode(audio: np.ndarray, sr: int, codec: Codec, kbps: int | None = None,
                  vbr_quality: int | None = None) -> CodecResult:
    """Encode ``(frames, channels)`` float audio with ``codec`` and decode it back, aligned to the input.

    ``kbps`` sets a constant (MP3, AAC) or constrained-variable (Opus) bitrate; ``vbr_quality`` (0 best … 9) asks
    LAME for variable bitrate instead (MP3 only).
    """
    if codec not in CODEC_RATES:
        raise AttackInputError(f"unknown codec {codec!r}; choose one of {', '.join(CODEC_RATES)}")
    if (kbps is None) == (vbr_quality is None) or (vbr_quality is not None and codec != "mp3"):
        raise AttackInputError("give either kbps, or vbr_quality (MP3 only)")
    coded_rate = _coding_rate(codec, sr)
    if kbps is not None:
        _check_bitrate(codec, coded_rate, kbps)
    x = resample(audio, sr, coded_rate)
    outs, bits = [], 0
    for group in _channel_groups(x.shape[1]):
        y, nbits = _round_trip(np.ascontiguousarray(x[:, group]), coded_rate, codec, kbps, vbr_quality)
        delay = _delay(codec, coded_rate, len(group), kbps, vbr_quality)
        outs.append(match_length(y[delay:], x.shape[0]))
        bits += nbits
    y = resample(np.concatenate(outs, axis=1), coded_rate, sr)
    seconds = audio.shape[0] / sr
    return CodecResult(match_length(y, audio.shape[0]).astype(np.float32), bits / seconds / 1000.0, coded_rate)


def _coding_rate(codec: str, sr: int) -> int:
    rates = CODEC_RATES[codec]
    if sr in rates:
        return sr
    higher = [r for r in rates if r >= sr]
    return min(higher) if higher else max(rates)  # never lose band by going down when a higher rate exists


def _check_bitrate(codec: str, rate: int, kbps: int) -> None:
    if codec == "mp3":
        floor = max(r for r in _MP3_KBPS if r <= max(rate, 8000))
        low, high = _MP3_KBPS[floor]
        if not low <= kbps <= high:
            raise AttackInputError(f"MP3 at {rate} Hz codes {low}–{high} kbps, not {kbps}; "
                                   "choose a bitrate in range or resample the audio first")
    elif codec == "opus" and not 6 <= kbps <= 510:
        raise AttackInputError(f"Opus codes 6–510 kbps, not {kbps}")
    elif codec == "aac" and not 8 <= kbps <= 512:
        raise AttackInputError(f"AAC codes 8–512 kbps, not {kbps}")


def _channel_groups(channels: int) -> list[list[int]]:
    return [list(range(i, min(i + 2, channels))) for i in range(0, channels, 2)]


def _round_trip(x: np.ndarray, sr: int, codec: str, kbps: int | None, vbr: int | None) -> tuple[np.ndarray, int]:
    if codec == "mp3":
        return _mp3(x, sr, kbps, vbr)
    return _ffmpeg(x, sr, codec, int(kbps or 0))


def _mp3(x: np.ndarray, sr: int, kbps: int | None, vbr: int | None) -> tuple[np.ndarray, int]:
    from pedalboard.io import AudioFile

    buf = io.BytesIO()
    quality = f"V{vbr}" if vbr is not None else str(kbps)
    with AudioFile(buf, "w", sr, x.shape[1], format="mp3", quality=quality) as f:
        f.write(np.ascontiguousarray(x.T))
    encoded = buf.getvalue()
    with AudioFile(io.BytesIO(encoded)) as f:
        y = f.read(f.frames)
    return y.T.astype(np.float32), len(encoded) * 8


def _ffmpeg(x: np.ndarray, sr: int, codec: str, kbps: int) -> tuple[np.ndarray, int]:
    import av

    encoder, container = {"aac": ("aac", "adts"), "opus": ("libopus", "ogg")}[codec]
    layout = "stereo" if x.shape[1] == 2 else "mono"
    buf, nbits = io.BytesIO(), 0
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(encoder, rate=sr, layout=layout)
        stream.bit_rate = kbps * 1000
        if codec == "opus":
            stream.codec_context.options = {"vbr": "constrained"}
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.T), format="fltp", layout=layout)
        frame.sample_rate = sr
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            nbits += packet.size * 8  # coded payload only: the container's framing is not the codec's bitrate
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as inp:
        y = np.concatenate([f.to_ndarray() for f in inp.decode(audio=0)], axis=1)
    return y.T.astype(np.float32), nbits


@functools.lru_cache(maxsize=64)
def _delay(codec: str, sr: int, channels: int, kbps: int | None, vbr: int | None) -> int:
    """The codec's delay in frames at this setting, measured on a broadband probe by cross-correlation."""
    rng = np.random.default_rng(1234)
    n = sr  # one second of band-limited noise bursts: sharp correlation peak, codec-friendly spectrum
    probe = (rng.standard_normal((n, channels)) * 0.1).astype(np.float32)
    probe *= (np.sin(np.linspace(0, 6 * np.pi, n)) ** 2)[:, None].astype(np.float32)
    y, _ = _round_trip(probe, sr, codec, kbps, vbr)
    a, b = probe[:, 0], y[: n + _MAX_DELAY, 0]
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)[:_MAX_DELAY]
    return int(np.argmax(corr))


def straight_through_codec(x: Any, sr: int, codec: Codec, kbps: int | None = None,
                           vbr_quality: int | None = None) -> Any:
    """Training form: the real codec's output forward, the identity's gradient backward."""
    import torch

    with torch.no_grad():
        items = x.detach().float().cpu().numpy()
        coded = np.stack([encode_decode(item.T, sr, codec, kbps, vbr_quality).audio.T for item in items])
    y = torch.from_numpy(coded).to(device=x.device, dtype=x.dtype)
    return x + (y - x).detach()


def _eval(codec: Codec):
    def run(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
        return encode_decode(audio, sr, codec, **params).audio
    return run


def _train(codec: Codec):
    def run(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
        return straight_through_codec(x, sr, codec, **params)
    return run


def _attack(name: str, codec: Codec, summary: str, ladder: list[tuple[str, dict[str, int]]], default: str) -> Attack:
    return Attack(
        name=name, family="codec", summary=summary,
        strengths=tuple(Strength(label, params) for label, params in ladder), default=default,
        evaluate=_eval(codec), train=_train(codec), train_mode="straight-through",
        rate="same (coded at the nearest supported rate and resampled back)",
        source="issue 4 bitrates (RAW-Bench/AudioMarkBench use the same codec families)",
        tags=frozenset({"codec"}),
    )


ATTACKS = (
    _attack("mp3", "mp3", "MP3 via LAME, constant bitrate", [(f"{k}k", {"kbps": k}) for k in (320, 192, 128, 64)],
            "128k"),
    _attack("mp3_vbr", "mp3", "MP3 via LAME, variable bitrate (-V quality)",
            [(f"V{q}", {"vbr_quality": q}) for q in (0, 2, 5, 7, 9)], "V5"),
    _attack("aac", "aac", "AAC-LC via FFmpeg's native encoder, constant bitrate",
            [(f"{k}k", {"kbps": k}) for k in (256, 128, 64)], "128k"),
    _attack("opus", "opus", "Opus via libopus at 48 kHz, constrained VBR",
            [(f"{k}k", {"kbps": k}) for k in (128, 64, 32)], "64k"),
)
