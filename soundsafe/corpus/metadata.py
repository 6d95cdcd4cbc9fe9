"""Generated but valid DDEX/CWR-style metadata records for demo tracks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from soundsafe.corpus.scores import STYLES, Piece
from soundsafe.payload.identifiers import (
    ean_check_digit,
    ipi_check_digits,
    iswc_check_digit,
    mod37_36_check_char,
)
from soundsafe.payload.record import validate_record

__all__ = ["LABEL", "make_record", "make_rights_record"]

LABEL = "SoundSafe Demo Records"
_ENSEMBLES = ("Aurora Consort", "The Lamplight Players", "Northfield Ensemble", "Kestrel Quartet", "Harbour Lights",
              "Ostinato Collective", "The Juniper Band", "Meridian Winds", "Saltmarsh Trio", "Cobalt Chamber Group")
_ARRANGERS = ("Mira Okafor", "Tomas Lindqvist", "Ana Beltran", "Jonah Whitfield", "Keiko Arai", "Ravi Menon")
_PUBLISHERS = ("SoundSafe Music Publishing", "Open Score Editions", "Demo Songs Ltd")
_TERRITORY_SETS = (["Worldwide"], ["US", "CA"], ["GB", "IE", "DE", "FR"], ["JP", "KR"], ["BR", "AR", "MX"])


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


def _ipi(rng: np.random.Generator) -> str:
    while True:
        base = _digits(rng, 9)
        check = ipi_check_digits(base)
        if check < 100:  # 100 has no two-digit form: such bases are never issued
            return f"{base}{check:02d}"


def make_record(index: int, piece: Piece, seconds: float, rng: np.random.Generator) -> dict[str, Any]:
    """A valid record for demo track ``index`` (validated before it is returned)."""
    return make_rights_record(index, piece.title, piece.composer, STYLES[piece.style].genre, seconds, rng)


def make_rights_record(index: int, title: str, composer: str, genre: str, seconds: float,
                       rng: np.random.Generator, label: str = LABEL, isrc_registrant: str = "SSD") -> dict[str, Any]:
    """A generated but valid 18-field record for track ``index`` of any corpus (demo or real music)."""
    year = 2020 + int(rng.integers(0, 7))
    iswc_body = _digits(rng, 9)
    upc_body = "0" + _digits(rng, 11)
    grid_body = "A1" + "SSDEM" + "".join(rng.choice(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 10))
    arranger = str(rng.choice(_ARRANGERS))
    composer_share, arranger_share = (50.0, 0.0) if composer == "Traditional" else (25.0, 25.0)
    writers = [{"name": composer, "ipi": _ipi(rng), "share": composer_share, "role": "C"}]
    writers.append({"name": arranger, "ipi": _ipi(rng), "share": arranger_share, "role": "AR"})
    release = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    record = {
        "isrc": f"QZ{isrc_registrant}{year % 100:02d}{index:05d}",
        "iswc": f"T-{iswc_body}-{iswc_check_digit(iswc_body)}",
        "upc": upc_body + str(ean_check_digit(upc_body)),
        "grid": grid_body + mod37_36_check_char(grid_body),
        "catalogue_number": f"{isrc_registrant}-{index:05d}",
        "title": f"{title} (arr. {arranger})"[:200],
        "display_artist": str(rng.choice(_ENSEMBLES)),
        "label": label,
        "publishers": [{"name": str(rng.choice(_PUBLISHERS)), "ipi": _ipi(rng), "share": 50.0}],
        "writers": writers,
        "p_line": f"(P) {year} {label}",
        "c_line": f"(C) {year} {label}",
        "release_date": release.isoformat(),
        "territories": list(_TERRITORY_SETS[int(rng.integers(0, len(_TERRITORY_SETS)))]),
        "language": "zxx",  # instrumental: no linguistic content
        "genre": genre,
        "duration": f"PT{seconds:g}S",
        "party_id": f"PADPIDA{year}{_digits(rng, 7)}",
    }
    return validate_record(record)
