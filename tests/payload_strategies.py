"""Hypothesis strategies for valid metadata records (identifiers with correct check characters)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from soundsafe.payload.codes import COUNTRIES, LANGUAGES
from soundsafe.payload.identifiers import (
    ean_check_digit,
    ipi_check_digits,
    isni_check_char,
    iswc_check_digit,
    mod37_36_check_char,
)
from soundsafe.payload.record import PUBLISHER_ROLES, WRITER_ROLES

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


isrcs = st.builds(lambda c, r, y, d: c + r + y + d, st.text(LETTERS, min_size=2, max_size=2),
                  st.text(ALNUM, min_size=3, max_size=3), digits(2), digits(5))
iswcs = digits(9).map(lambda d: f"T-{d}-{iswc_check_digit(d)}")
upcs = st.one_of(digits(11), digits(12)).map(lambda d: d + str(ean_check_digit(d)))
grids = st.text(ALNUM, min_size=15, max_size=15).map(lambda b: "A1" + b + mod37_36_check_char("A1" + b))
ipis = digits(9).filter(lambda d: ipi_check_digits(d) < 100).map(lambda d: f"{d}{ipi_check_digits(d):02d}")
isnis = digits(15).map(lambda d: d + isni_check_char(d))
dpids = st.builds(lambda a, b: "PADPID" + a + b, st.sampled_from(LETTERS), st.text(ALNUM, min_size=11, max_size=11))
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200).filter(lambda t: t.strip())
durations = st.builds(lambda h, m, s, ms: f"PT{h}H{m}M{s}.{ms:03d}S" if ms else f"PT{h}H{m}M{s}S",
                      st.integers(0, 3), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))


@st.composite
def shares(draw: st.DrawFn, n: int) -> list[float]:
    """``n`` shares in hundredths of a percent that add up to exactly 100 %."""
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 10_000]
    return [(bounds[i + 1] - bounds[i]) / 100 for i in range(n)]


@st.composite
def records(draw: st.DrawFn, max_owners: int = 6) -> dict[str, Any]:
    n_writers = draw(st.integers(0, max_owners))
    n_publishers = draw(st.integers(0, max_owners)) if n_writers else 0
    parts = draw(shares(n_writers + n_publishers)) if n_writers + n_publishers else []
    record: dict[str, Any] = {"isrc": draw(isrcs), "title": draw(texts), "display_artist": draw(texts)}
    if n_writers:
        record["writers"] = [{"name": draw(texts), "ipi": draw(ipis), "share": parts[i],
                              "role": draw(st.sampled_from(WRITER_ROLES))} for i in range(n_writers)]
    if n_publishers:
        record["publishers"] = []
        for i in range(n_publishers):
            entry = {"name": draw(texts), "ipi": draw(ipis), "share": parts[n_writers + i]}
            if draw(st.booleans()):
                entry["role"] = draw(st.sampled_from(PUBLISHER_ROLES))
            record["publishers"].append(entry)
    optional = {
        "iswc": iswcs, "upc": upcs, "grid": grids, "catalogue_number": texts, "label": texts, "p_line": texts,
        "c_line": texts, "genre": texts, "release_date": st.dates().map(lambda d: d.isoformat()),
        "territories": st.lists(st.sampled_from([*sorted(COUNTRIES), "Worldwide"]), min_size=1, max_size=12),
        "language": st.sampled_from(sorted(LANGUAGES)), "duration": durations,
        "party_id": st.one_of(isnis, dpids),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            record[name] = draw(strategy)
    return record
