"""Any watermarker with a command line, measured through the same harness (e.g. audiowmark when installed).

A tool is described by two command templates and a regex:

- ``embed``: e.g. ``audiowmark add {input} {output} {payload}``: ``{input}``/``{output}`` are WAV paths, and
  ``{payload}`` the message as hex (``{bits}`` is its length in bits);
- ``detect``: e.g. ``audiowmark get {input}``, whose standard output (and error) is searched with
- ``payload_regex``: a regex with a named group ``payload`` (hex) for each message the tool reports, and
  optionally a group ``score``: reports scoring below ``min_score`` are candidates, not detections;
- ``detect_speed`` (optional): the detect template to use on audio whose speed may have changed (audiowmark's
  ``--detect-speed``); the evaluation uses it on its speed and time-stretch attacks.

The first token of a template is the program (looked up on ``PATH``); templates are split like a shell would
(``shlex``) and run without a shell, so paths with spaces are safe.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundsafe.audio.io import read_audio, resample, write_wav

__all__ = ["AUDIOWMARK", "ExternalTool", "ExternalToolError", "Report", "bits_to_hex", "hex_to_bits",
           "missing_tool_hint"]


class ExternalToolError(RuntimeError):
    """The external tool is missing, failed, or printed nothing the regex recognises."""


def bits_to_hex(bits: np.ndarray) -> str:
    """Bits (MSB first, length a multiple of 4) as lowercase hex."""
    b = np.asarray(bits, dtype=np.int64).reshape(-1)
    if b.size % 4:
        raise ValueError(f"{b.size} bits do not make whole hex digits; use a multiple of 4")
    return "".join(f"{int(''.join(map(str, b[i: i + 4])), 2):x}" for i in range(0, b.size, 4))


def hex_to_bits(text: str, bits: int) -> np.ndarray:
    """Hex (MSB first) as ``bits`` bits (left-padded with zeros, extra leading digits dropped)."""
    value = int(text, 16)
    return np.array([(value >> (bits - 1 - i)) & 1 for i in range(bits)], dtype=np.int64)


@dataclass(frozen=True)
class Report:
    """One message a tool reports, with its score (NaN when the tool gives none)."""

    bits: np.ndarray
    score: float


@dataclass(frozen=True)
class ExternalTool:
    """An external watermarker: command templates, the payload regex, and what it carries."""

    name: str
    embed: str
    detect: str
    payload_regex: str
    payload_bits: int = 128
    bits_per_second: float = float("nan")  # the tool's raw rate, when known (for the report)
    timeout_s: float = 600.0
    detect_speed: str = ""
    min_score: float = float("-inf")

    @property
    def program(self) -> str:
        return shlex.split(self.embed)[0]

    def available(self) -> bool:
        """Whether both templates' programs can be found."""
        return all(shutil.which(shlex.split(t)[0]) for t in (self.embed, self.detect))

    def reports(self, audio: np.ndarray, sr: int, speed_search: bool = False) -> list[Report]:
        """Every message the tool reports in ``audio``, best first as the tool orders them (candidates below
        ``min_score`` included; :meth:`read_audio_payloads` keeps only the detections)."""
        x = audio if audio.ndim == 2 else audio[:, None]
        template = self.detect_speed if speed_search and self.detect_speed else self.detect
        with tempfile.TemporaryDirectory(prefix="soundsafe-ext-") as tmp:
            src = Path(tmp) / "in.wav"
            write_wav(src, x, sr, subtype="FLOAT")
            text = self._run(template, input=str(src), bits=str(self.payload_bits))
        out = []
        for m in re.finditer(self.payload_regex, text):
            score = m.groupdict().get("score")
            out.append(Report(hex_to_bits(m.group("payload"), self.payload_bits),
                              float(score) if score is not None else float("nan")))
        return out

    def _run(self, template: str, **values: str) -> str:
        argv = [part.format(**values) for part in shlex.split(template)]
        if shutil.which(argv[0]) is None:
            raise ExternalToolError(f"{self.name}: program {argv[0]!r} not found on PATH; install it or fix "
                                    "the command template")
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ExternalToolError(f"{self.name}: {argv[0]} ran past {self.timeout_s:.0f} s") from exc
        # a detector may exit non-zero when it finds nothing (audiowmark does): only a failed embed is an error
        if done.returncode != 0 and template == self.embed:
            raise ExternalToolError(f"{self.name}: `{' '.join(argv)}` exited {done.returncode}: "
                                    f"{(done.stderr or done.stdout).strip()[-400:]}")
        return done.stdout + "\n" + done.stderr

    def embed_audio(self, audio: np.ndarray, sr: int, bits: np.ndarray) -> np.ndarray:
        """Mark ``audio`` with ``bits`` (``payload_bits`` long) via the tool; same shape and rate out."""
        bits = np.asarray(bits).reshape(-1)
        if bits.size != self.payload_bits:
            raise ValueError(f"{self.name} carries {self.payload_bits} bits, got {bits.size}")
        x = audio if audio.ndim == 2 else audio[:, None]
        with tempfile.TemporaryDirectory(prefix="soundsafe-ext-") as tmp:
            src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
            write_wav(src, x, sr, subtype="FLOAT")
            self._run(self.embed, input=str(src), output=str(dst), payload=bits_to_hex(bits),
                      bits=str(self.payload_bits))
            if not dst.is_file():
                raise ExternalToolError(f"{self.name}: the embed command wrote no {dst.name}")
            out, out_sr = read_audio(dst)
        out = resample(out, out_sr, sr) if out_sr != sr else out
        if out.shape[1] != x.shape[1]:
            out = np.repeat(out.mean(axis=1, keepdims=True), x.shape[1], axis=1)
        out = np.pad(out[: x.shape[0]], ((0, max(0, x.shape[0] - out.shape[0])), (0, 0))).astype(np.float32)
        return out if audio.ndim == 2 else out[:, 0]

    def read_audio_payloads(self, audio: np.ndarray, sr: int, speed_search: bool = False) -> list[np.ndarray]:
        """Every payload the tool detects in ``audio`` (empty when it finds none)."""
        return [r.bits for r in self.reports(audio, sr, speed_search)
                if not r.score < self.min_score]  # NaN scores (none given) count


def missing_tool_hint(tool: ExternalTool) -> str:
    """What to do when ``tool`` is not installed."""
    if tool.name == "audiowmark":
        return ("audiowmark is not on PATH: build it from its source (https://github.com/swesterfeld/audiowmark, "
                "GPL-3; `./autogen.sh && ./configure && make install`, needs libfftw3, libsndfile, libgcrypt, "
                "libzita-resampler, libmpg123), or name the binary with --external-bin")
    return f"{tool.program!r} is not on PATH: install it, or fix the command template"


# audiowmark (https://github.com/swesterfeld/audiowmark): 128-bit payloads; `get` prints lines such as
# "pattern  0:05 0123456789abcdef0123456789abcdef 1.325 0.000 A" (time, message, sync score, decoding error,
# block type), best first. Patterns under its own sync threshold (0.35) are its n-best candidates, printed
# anyway; its README has the user look each message up in a database, so recovery is scored as "the embedded
# message is among the reported ones" and detection (false reads) as "a pattern above the sync threshold".
AUDIOWMARK = ExternalTool(
    name="audiowmark",
    embed="audiowmark add {input} {output} {payload}",
    detect="audiowmark get {input}",
    detect_speed="audiowmark get --detect-speed {input}",
    payload_regex=r"pattern\s+(?:\S+\s+)?(?P<payload>[0-9a-f]{32})\s+(?P<score>[0-9.]+)",
    payload_bits=128,
    bits_per_second=1.3,  # net: one 128-bit message per data block (the figure issue 19 quotes)
    min_score=0.35,
)
