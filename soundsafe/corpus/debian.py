"""The ``debian`` corpus source: real produced music from Debian's game-music packages.

``make pipeline`` installs ``ufoai-music`` (orchestral), ``warzone2100-music`` (electronic), ``nexuiz-music``
(rock) and ``singularity-music`` (ambient): 128 tracks, about 10.5 h. Every audio file a package lists
(``dpkg -L``; plain files and the music inside ``.pk3`` zip archives) is decoded, optionally cut to an excerpt
from its middle (``corpus.excerpt_seconds``, to bound the corpus on a small machine), resampled and written by
the ingest (:func:`soundsafe.ingest.write_track`), with a generated valid rights record. Splits go by a hash of
the track's name, so no track is in two splits and a package that adds files moves no track.

``hyperrogue-music`` and every ``wesnoth*-music`` package are reserved for independent evaluation: asking for
them is an error, and nothing in the project reads them.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from soundsafe.audio.io import AUDIO_EXTENSIONS
from soundsafe.corpus.metadata import make_rights_record
from soundsafe.manifest import MANIFEST_NAME, hash_splits, write_manifest
from soundsafe.progress import progress

__all__ = ["DEFAULT_PACKAGES", "GENRES", "LABEL", "PackageTrack", "RealMusicError", "build_debian_corpus",
           "check_allowed", "excerpt", "missing_packages", "package_tracks"]

# package → genre of its music
GENRES = {"ufoai-music": "Orchestral", "warzone2100-music": "Electronic", "nexuiz-music": "Rock",
          "singularity-music": "Ambient"}
DEFAULT_PACKAGES = tuple(GENRES)
_RESERVED = ("hyperrogue-music", "wesnoth")
LABEL = "SoundSafe Real-Music Records"


class RealMusicError(RuntimeError):
    """The packages are missing, empty or reserved."""


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


def check_allowed(package: str) -> None:
    """Refuse the packages reserved for independent evaluation."""
    if any(package.startswith(r) for r in _RESERVED):
        raise RealMusicError(f"{package} is reserved for independent evaluation and is never used by the project")


def _listing(package: str) -> list[str] | None:
    if shutil.which("dpkg") is None:
        return None
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    return sorted(listed.stdout.splitlines()) if listed.returncode == 0 else None


def missing_packages(packages: tuple[str, ...] | list[str]) -> list[str]:
    """The packages of ``packages`` that are not installed (all of them without dpkg)."""
    for package in packages:
        check_allowed(package)
    return [p for p in packages if _listing(p) is None]


def package_tracks(package: str) -> list[PackageTrack]:
    """Every audio file ``package`` installed (``dpkg -L``), in a stable order."""
    check_allowed(package)
    if shutil.which("dpkg") is None:
        raise RealMusicError("dpkg is not available: the real-music packages need a Debian-based system")
    lines = _listing(package)
    if lines is None:
        raise RealMusicError(f"{package} is not installed (apt-get install {package})")
    tracks: list[PackageTrack] = []
    for line in lines:
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


def excerpt(audio: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """``seconds`` from the middle of the track (the whole track if shorter, or if ``seconds`` ≤ 0)."""
    if seconds <= 0:
        return audio
    n = int(seconds * sr)
    start = max(0, (audio.shape[0] - n) // 2)
    return audio[start: start + n]


def build_debian_corpus(out_dir: Path, packages: tuple[str, ...] | list[str], sample_rate: int,
                        splits: dict[str, float], seed: int, excerpt_seconds: float = 0.0) -> pd.DataFrame:
    """Ingest every track of ``packages`` into ``out_dir`` (``audio/`` and the manifest; the caller makes it
    atomic) and return the manifest. Tracks that cannot be decoded are listed in ``rejected.csv``."""
    from soundsafe.ingest import write_track

    tracks = [t for p in packages for t in package_tracks(p)]
    if not tracks:
        raise RealMusicError(f"no audio files in {', '.join(packages)}")
    rows, rejected = [], []
    for index, track in enumerate(progress(tracks, "real-music corpus", unit="track")):
        try:
            audio, sr = track.read()
        except (RuntimeError, sf.LibsndfileError, zipfile.BadZipFile) as exc:
            rejected.append((track.name, str(exc)))
            continue
        clip = excerpt(audio, sr, excerpt_seconds)[:, :2]
        # the seed and the track's place in its package make the record: stable while the package is
        rng = np.random.default_rng([seed, index])
        title = Path(track.name).stem.replace("_", " ").replace("-", " ").strip().title() or "Untitled"
        record = make_rights_record(index, title, "Various", GENRES.get(track.package, "Game"),
                                    round(clip.shape[0] / sr, 2), rng, label=LABEL, isrc_registrant="SSR")
        row = write_track(out_dir, track.name, clip, sr, sample_rate, record, prefix="deb")
        row["package"] = track.package
        rows.append(row)
    if not rows:
        raise RealMusicError(f"none of the {len(tracks)} tracks of {', '.join(packages)} could be decoded")
    df = pd.DataFrame(rows)
    split_of = hash_splits(df["source"].tolist(), splits)
    df["split"] = df["source"].map(split_of)
    write_manifest(df, out_dir / MANIFEST_NAME)
    pd.DataFrame(rejected, columns=["file", "error"]).to_csv(out_dir / "rejected.csv", index=False)
    df[["track_id", "split", "package", "source", "duration_s"]].to_csv(out_dir / "sources.csv", index=False)
    return df
