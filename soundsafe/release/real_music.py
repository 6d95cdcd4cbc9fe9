"""Real produced music from Debian's game-music packages, cut into excerpts with generated rights records.

The release model (``soundsafe/models/``) is trained on this music, not on the synthetic demo corpus. Each
package's audio is found with ``dpkg -L`` (plain files, and files inside ``.pk3`` zip archives); each track gives
one excerpt from its middle, written as 44.1 kHz WAV beside a ``metadata.csv`` that ``soundsafe ingest`` reads.
File names start with a hash of the track's name, so the ingest's ordered split spreads every package over
train, val and test, and no track is in two splits.

``hyperrogue-music`` and every ``wesnoth*-music`` package are reserved for independent evaluation: asking for
them is an error.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from soundsafe.atomic import atomic_dir
from soundsafe.audio.io import AUDIO_EXTENSIONS, resample, write_wav
from soundsafe.corpus.metadata import make_rights_record
from soundsafe.progress import progress

__all__ = ["PACKAGES", "PackageTrack", "RealMusicError", "build_excerpt_folder", "package_tracks"]

# package → genre of its music (orchestral, electronic, rock, ambient)
PACKAGES = {"ufoai-music": "Orchestral", "warzone2100-music": "Electronic", "nexuiz-music": "Rock",
            "singularity-music": "Ambient"}
_RESERVED = ("hyperrogue-music", "wesnoth")
LABEL = "SoundSafe Real-Music Records"


class RealMusicError(RuntimeError):
    """The packages are missing or reserved."""


@dataclass(frozen=True)
class PackageTrack:
    """One audio file of a package: a plain file, or ``member`` inside the zip archive ``path``."""

    package: str
    path: str
    member: str | None = None

    @property
    def name(self) -> str:
        return f"{self.package}/{Path(self.member or self.path).name}"

    def read(self) -> tuple[np.ndarray, int]:
        if self.member is None:
            data, sr = sf.read(self.path, dtype="float32", always_2d=True)
        else:
            with zipfile.ZipFile(self.path) as archive:
                data, sr = sf.read(io.BytesIO(archive.read(self.member)), dtype="float32", always_2d=True)
        return data, int(sr)


def _check_allowed(package: str) -> None:
    if any(package.startswith(r) for r in _RESERVED):
        raise RealMusicError(f"{package} is reserved for independent evaluation and is never used by the project")


def package_tracks(package: str) -> list[PackageTrack]:
    """Every audio file ``package`` installed (``dpkg -L``), in a stable order."""
    _check_allowed(package)
    if shutil.which("dpkg") is None:
        raise RealMusicError("dpkg is not available: the real-music packages need a Debian-based system")
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if listed.returncode != 0:
        raise RealMusicError(f"{package} is not installed (apt-get install {package})")
    tracks: list[PackageTrack] = []
    for line in sorted(listed.stdout.splitlines()):
        path = Path(line)
        if not path.is_file():
            continue
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            tracks.append(PackageTrack(package, str(path)))
        elif path.suffix.lower() == ".pk3":  # Quake-style game data: a zip of the music files
            with zipfile.ZipFile(path) as archive:
                tracks += [PackageTrack(package, str(path), m) for m in sorted(archive.namelist())
                           if Path(m).suffix.lower() in AUDIO_EXTENSIONS]
    return tracks


def _excerpt(audio: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """``seconds`` from the middle of the track (the whole track if shorter)."""
    n = int(seconds * sr)
    start = max(0, (audio.shape[0] - n) // 2)
    return audio[start: start + n]


def _all_tracks(packages: tuple[str, ...]) -> Iterator[PackageTrack]:
    for package in packages:
        yield from package_tracks(package)


def build_excerpt_folder(out_dir: Path, packages: tuple[str, ...] = tuple(PACKAGES), seconds: float = 30.0,
                         sample_rate: int = 44100, seed: int = 0) -> pd.DataFrame:
    """Write one ``seconds`` excerpt per track of ``packages`` to ``out_dir`` (replaced atomically) with a
    ``metadata.csv`` of generated valid records; return the table of what was written."""
    tracks = list(_all_tracks(packages))
    if not tracks:
        raise RealMusicError(f"no audio files in {', '.join(packages)}")
    rows = []
    with atomic_dir(out_dir) as tmp:
        for index, track in enumerate(progress(tracks, "real-music excerpts", unit="track")):
            audio, sr = track.read()
            clip = resample(_excerpt(audio, sr, seconds), sr, sample_rate)
            if clip.shape[1] > 2:
                clip = clip[:, :2]
            tag = hashlib.sha1(track.name.encode()).hexdigest()[:8]
            file = f"{tag}-{track.package}-{Path(track.name).stem}.wav"
            write_wav(tmp / file, clip, sample_rate)
            rng = np.random.default_rng([seed, index])
            record = make_rights_record(index, Path(track.name).stem.replace("_", " ").title(), "Various",
                                        PACKAGES.get(track.package, "Game"), round(clip.shape[0] / sample_rate, 2),
                                        rng, label=LABEL, isrc_registrant="SSR")
            rows.append({"file": file, "package": track.package, "track": track.name,
                         **{k: json.dumps(v) if isinstance(v, list) else v for k, v in record.items()}})
        table = pd.DataFrame(rows)
        # the metadata CSV holds record fields only (ingest validates them); provenance goes beside it
        table.drop(columns=["package", "track"]).to_csv(tmp / "metadata.csv", index=False)
        table[["file", "package", "track"]].to_csv(tmp / "sources.csv", index=False)
    return table
