"""The rights-metadata record a watermark carries: its fields and their validation.

A record is a JSON-like dict. Its 18 fields come from DDEX ERN (recording/release) and CWR (work, writers,
publishers). Identifiers are checked with their check digits; writer and publisher ownership shares must add up
to 100 % as in a CWR registration. :func:`record_problems` lists every problem, naming the field;
:func:`validate_record` raises them together.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from soundsafe.payload.codes import COUNTRIES, LANGUAGES, TERRITORY_WORLDWIDE
from soundsafe.payload.identifiers import (
    IdentifierError,
    validate_dpid,
    validate_ean,
    validate_grid,
    validate_ipi,
    validate_isni,
    validate_isrc,
    validate_iswc,
)

__all__ = [
    "DURATION", "FIELDS", "PUBLISHER_ROLES", "REQUIRED", "WRITER_ROLES", "RecordError", "record_problems",
    "validate_record",
]

REQUIRED = ("isrc", "title", "display_artist")
_MAX_TEXT = 200
# CWR writer designation codes and publisher type codes (CWR 2.x lookup tables).
WRITER_ROLES = ("C", "A", "CA", "AR", "AD", "TR", "SA", "SR", "PA")
PUBLISHER_ROLES = ("E", "AM", "PA", "SE", "ES", "AQ")


class RecordError(ValueError):
    """A metadata record is invalid; ``problems`` lists each one as ``field: what is wrong``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid metadata record: " + "; ".join(problems))
        self.problems = problems


def _identifier(check: Callable[[str], str]) -> Callable[[Any], list[str]]:
    def problems(value: Any) -> list[str]:
        try:
            check(value)
        except IdentifierError as exc:
            return [str(exc)]
        return []

    return problems


def _text(value: Any) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return ["must be non-empty text"]
    if len(value) > _MAX_TEXT:
        return [f"is {len(value)} characters long; at most {_MAX_TEXT}"]
    return []


def _release_date(value: Any) -> list[str]:
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return [f"{value!r} is not an ISO date (YYYY-MM-DD)"]
    return []


def _territories(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        return ["must be a non-empty list of ISO 3166-1 alpha-2 codes or 'Worldwide'"]
    bad = [t for t in value if t != TERRITORY_WORLDWIDE and t not in COUNTRIES]
    return [f"unknown territory codes {bad}; use ISO 3166-1 alpha-2 or 'Worldwide'"] if bad else []


def _language(value: Any) -> list[str]:
    return [] if value in LANGUAGES else [f"{value!r} is not an ISO 639 code (e.g. 'en', 'zxx' for instrumental)"]


# ISO 8601 duration as DDEX writes it, e.g. PT3M25S or PT30.5S (groups: hours, minutes, seconds).
DURATION = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?")


def _duration(value: Any) -> list[str]:
    if not isinstance(value, str) or not DURATION.fullmatch(value) or value == "PT":
        return [f"{value!r} is not an ISO 8601 duration such as PT3M25S"]
    return []


def _party_id(value: Any) -> list[str]:
    # A DDEX party ID (PADPID…) or an ISNI.
    text = value if isinstance(value, str) else ""
    check = validate_dpid if text.upper().startswith("PADPID") else validate_isni
    return _identifier(check)(value)


def _shares(entries: Any, kind: str, needs_role: bool) -> list[str]:
    if not isinstance(entries, list) or not entries:
        return [f"must be a non-empty list of {kind} records"]
    problems: list[str] = []
    for i, entry in enumerate(entries):
        where = f"[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be an object with name, ipi and share")
            continue
        problems += [f"{where}.name {p}" for p in _text(entry.get("name"))]
        problems += [f"{where}.ipi: {p}" for p in _identifier(validate_ipi)(entry.get("ipi", ""))]
        share = entry.get("share")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 100:
            problems.append(f"{where}.share must be a number from 0 to 100, got {share!r}")
        elif abs(share * 100 - round(share * 100)) > 1e-6:
            problems.append(f"{where}.share {share!r} has more than 2 decimals (CWR stores hundredths of a percent)")
        if needs_role and entry.get("role") not in WRITER_ROLES:
            problems.append(f"{where}.role must be a CWR writer designation {list(WRITER_ROLES)}")
        if not needs_role and "role" in entry and entry["role"] not in PUBLISHER_ROLES:
            problems.append(f"{where}.role must be a CWR publisher type {list(PUBLISHER_ROLES)}")
        unknown = set(entry) - {"name", "ipi", "share", "role"}
        if unknown:
            problems.append(f"{where} has unknown keys {sorted(unknown)}")
    return problems


FIELDS: dict[str, Callable[[Any], list[str]]] = {
    "isrc": _identifier(validate_isrc),
    "iswc": _identifier(validate_iswc),
    "upc": _identifier(validate_ean),
    "grid": _identifier(validate_grid),
    "catalogue_number": _text,
    "title": _text,
    "display_artist": _text,
    "label": _text,
    "publishers": lambda v: _shares(v, "publisher", needs_role=False),
    "writers": lambda v: _shares(v, "writer", needs_role=True),
    "p_line": _text,
    "c_line": _text,
    "release_date": _release_date,
    "territories": _territories,
    "language": _language,
    "genre": _text,
    "duration": _duration,
    "party_id": _party_id,
}


def record_problems(record: Any) -> list[str]:
    """Every problem with ``record``, each as ``field: what is wrong``; empty when valid."""
    if not isinstance(record, Mapping):
        return [f"record must be an object, got {type(record).__name__}"]
    problems = [f"{name}: required field is missing" for name in REQUIRED if name not in record]
    problems += [f"{name}: unknown field (known: {', '.join(FIELDS)})" for name in record if name not in FIELDS]
    for name, check in FIELDS.items():
        if name in record:
            problems += [f"{name}: {p}" for p in check(record[name])]
    owners = [e for k in ("writers", "publishers") for e in record.get(k) or [] if isinstance(e, Mapping)]
    shared = [e.get("share", 0) for e in owners]
    if shared and all(isinstance(s, int | float) for s in shared) and abs(sum(shared) - 100.0) > 0.01:
        problems.append(f"writers+publishers: ownership shares add up to {sum(shared):g} %, expected 100 %")
    return problems


def validate_record(record: Any) -> dict[str, Any]:
    """Return ``record`` unchanged when valid; raise :class:`RecordError` listing every problem otherwise."""
    problems = record_problems(record)
    if problems:
        raise RecordError(problems)
    return dict(record)
