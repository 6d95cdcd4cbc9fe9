"""Import work, writer and publisher metadata from a CISAC CWR 2.x file (NWR/REV, SPU/OPU, SWR/OWR).

CWR is fixed-width text: each record's type is in columns 1–3 and its fields at fixed positions (the
positions below are CWR 2.1's, unchanged in 2.2 for the fields read here). Ownership shares are the PR
(performing right) ownership shares, stored as 3 integer and 2 decimal digits (``05000`` = 50.00 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soundsafe.payload.serialize import duration_text

__all__ = ["CwrError", "CwrWork", "read_cwr", "work_record"]

# (start, end) 0-based slices per record type.
_NWR = {"title": (19, 79), "language": (79, 81), "work_number": (81, 95), "iswc": (95, 106), "duration": (129, 135),
        "catalogue_number": (234, 259)}
_SPU = {"ip_number": (21, 30), "name": (30, 75), "type": (76, 78), "ipi": (87, 98), "pr_share": (115, 120)}
_SWR = {"ip_number": (19, 28), "last": (28, 73), "first": (73, 103), "designation": (104, 106), "ipi": (115, 126),
        "pr_share": (129, 134)}


class CwrError(ValueError):
    """A CWR file that cannot be read, or a work that is not in it."""


@dataclass
class CwrWork:
    """One NWR/REV transaction with its writers and publishers, as parsed (before validation)."""

    title: str
    work_number: str
    iswc: str = ""
    language: str = ""
    duration: str = ""
    catalogue_number: str = ""
    writers: list[dict[str, Any]] = field(default_factory=list)
    publishers: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _cut(line: str, span: tuple[int, int]) -> str:
    return line[span[0] : span[1]].strip()


def _share(text: str, where: str, warnings: list[str]) -> float | None:
    if not text:
        return None
    if not text.isdigit():
        warnings.append(f"{where}: PR ownership share {text!r} is not numeric")
        return None
    return int(text) / 100


def read_cwr(path: str | Path) -> list[CwrWork]:
    """All works (NWR/REV transactions) in a CWR file, in file order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CwrError(f"cannot read CWR file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # CWR 2.1 files are ASCII/ISO-8859-1
    works: list[CwrWork] = []
    for n, line in enumerate(text.splitlines(), start=1):
        kind = line[:3]
        where = f"{path.name} line {n} ({kind})"
        if kind in ("NWR", "REV"):
            if len(line) < 106:
                raise CwrError(f"{where}: record is {len(line)} characters, too short for a CWR work record")
            hhmmss = _cut(line, _NWR["duration"])
            duration = ""
            if hhmmss.isdigit() and len(hhmmss) == 6 and int(hhmmss):
                seconds = int(hhmmss[:2]) * 3600 + int(hhmmss[2:4]) * 60 + int(hhmmss[4:])
                duration = duration_text(seconds * 1000)
            works.append(CwrWork(title=_cut(line, _NWR["title"]), work_number=_cut(line, _NWR["work_number"]),
                                 iswc=_cut(line, _NWR["iswc"]), language=_cut(line, _NWR["language"]).lower(),
                                 duration=duration, catalogue_number=_cut(line, _NWR["catalogue_number"])))
        elif kind in ("SPU", "OPU", "SWR", "OWR"):
            if not works:
                raise CwrError(f"{where}: {kind} record before any NWR/REV work record")
            work = works[-1]
            if kind in ("SPU", "OPU"):
                name, ipi = _cut(line, _SPU["name"]), _cut(line, _SPU["ipi"])
                share = _share(_cut(line, _SPU["pr_share"]), where, work.warnings)
                entry: dict[str, Any] = {"name": name, "ipi": ipi, "share": share}
                if _cut(line, _SPU["type"]):
                    entry["role"] = _cut(line, _SPU["type"])
                target = work.publishers
            else:
                first, last = _cut(line, _SWR["first"]), _cut(line, _SWR["last"])
                name, ipi = f"{first} {last}".strip(), _cut(line, _SWR["ipi"])
                share = _share(_cut(line, _SWR["pr_share"]), where, work.warnings)
                entry = {"name": name, "ipi": ipi, "share": share, "role": _cut(line, _SWR["designation"])}
                target = work.writers
            if not ipi:
                work.warnings.append(f"{where}: {name or 'unnamed party'} has no IPI name number; left out")
                continue
            if share is None:
                entry["share"] = 0.0
                work.warnings.append(f"{where}: {name} has no PR ownership share; taken as 0")
            target.append(entry)
    if not works:
        raise CwrError(f"{path}: no NWR or REV work records found; is this a CWR 2.x file?")
    return works


def work_record(works: list[CwrWork], select: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """The record fields CWR provides for one work, and warnings.

    ``select`` picks the work by submitter work number, ISWC or title; it may be omitted when the file
    holds a single work.
    """
    if select is None:
        if len(works) > 1:
            listed = ", ".join(f"{w.work_number or '?'} ({w.title})" for w in works[:10])
            raise CwrError(f"the CWR file holds {len(works)} works; choose one with --work (e.g. {listed})")
        work = works[0]
    else:
        key = select.strip().upper()
        matches = [w for w in works if key in (w.work_number.upper(), w.iswc.upper(), w.title.upper())]
        if not matches:
            raise CwrError(f"no work {select!r} in the CWR file (match a submitter work number, ISWC or title)")
        work = matches[0]
    record: dict[str, Any] = {"title": work.title}
    if work.iswc:
        record["iswc"] = work.iswc
    if work.language:
        record["language"] = work.language
    if work.duration:
        record["duration"] = work.duration
    if work.writers:
        record["writers"] = work.writers
    if work.publishers:
        record["publishers"] = work.publishers
    return record, list(work.warnings)
