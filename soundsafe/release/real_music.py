"""Real produced music from Debian's game-music packages, cut into excerpts with generated rights records.

The pipeline's ``debian`` corpus source (:mod:`soundsafe.corpus.debian`) ingests these packages directly; this
module writes a folder of excerpts instead, for ``soundsafe ingest`` or a corpus ``source`` folder. The first
release model (``soundsafe/models/``) was trained on this music, not on the synthetic demo corpus. Each
package's audio is found with ``dpkg -L`` (plain files, and files inside ``.pk3`` zip archives); each track gives
one excerpt from its middle, written as 44.1 kHz WAV beside a ``metadata.csv`` that ``soundsafe ingest`` reads.
File names start with a hash of the track's name, so the ingest's ordered split spreads every package over
train, val and test, and no track is in two splits.

``hyperrogue-music`` and every ``wesnoth*-music`` package are reserved for independent evaluation: asking for
them is an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from soundsafe.atomic import atomic_dir
from soundsafe.audio.io import resample, write_wav
from soundsafe.corpus.debian import GENRES, LABEL, PackageTrack, RealMusicError, excerpt, package_tracks
from soundsafe.corpus.metadata import make_rights_record
from soundsafe.progress import progress

__all__ = ["PACKAGES", "PackageTrack", "RealMusicError", "build_excerpt_folder", "package_tracks"]

PACKAGES = GENRES


def _excerpt(audio: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    return excerpt(audio, sr, seconds)


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
