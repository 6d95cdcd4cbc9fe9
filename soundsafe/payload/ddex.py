"""Import recording and release metadata from a DDEX ERN message (ERN 3.8 and 4.x).

Element names are matched by local name, so namespaces and minor version differences do not matter.
Read from the first ``SoundRecording``: ISRC, ISWC, title, display artist, duration, language, genre,
P-line, contributors (composer, lyricist, arranger… → CWR writer roles, with IPI name numbers when the
message has them); from the main ``Release``: ICPN (UPC/EAN), GRid, catalogue number, label, C-line,
release date, and deal territories; the party ID is the label's DDEX party ID or ISNI, else the sender's.
ERN carries no ownership shares, so contributors become writers only when a CWR file supplies the shares
(see :func:`merge_records`); otherwise they are reported in the warnings.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["DdexError", "merge_records", "read_ern"]

_ROLE_TO_CWR = {"composer": "C", "lyricist": "A", "composerlyricist": "CA", "writer": "CA", "songwriter": "CA",
                "arranger": "AR", "adapter": "AD", "translator": "TR"}


class DdexError(ValueError):
    """An ERN message that cannot be read or has no sound recording."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _all(el: ET.Element, name: str) -> Iterator[ET.Element]:
    return (d for d in el.iter() if _local(d.tag) == name)


def _first(el: ET.Element | None, *names: str) -> ET.Element | None:
    if el is None:
        return None
    for name in names:
        for d in _all(el, name):
            return d
    return None


def _text(el: ET.Element | None, *names: str) -> str:
    for name in names:
        found = _first(el, name)
        if found is not None and (found.text or "").strip():
            return (found.text or "").strip()
    return ""


def _child_text(el: ET.Element, name: str) -> str:
    for c in el:
        if _local(c.tag) == name and (c.text or "").strip():
            return (c.text or "").strip()
    return ""


def _parties(root: ET.Element) -> dict[str, ET.Element]:
    return {ref: p for p in _all(root, "Party") if (ref := _child_text(p, "PartyReference"))}


def _party_name(el: ET.Element | None) -> str:
    return _text(el, "FullName", "PartyNameText", "LabelName")


def _party_id(el: ET.Element | None) -> str:
    for name in ("DPID", "ISNI"):
        value = _text(el, name)
        if value:
            return value
    for pid in _all(el, "PartyId") if el is not None else ():
        ns = (pid.get("Namespace") or "").upper()
        if (pid.text or "").strip() and ("DPID" in ns or "ISNI" in ns or (pid.text or "").startswith("PADPID")):
            return (pid.text or "").strip()
    return ""


def _ipi(el: ET.Element | None) -> str:
    value = _text(el, "IpiNameNumber", "IPINameNumber")
    if value or el is None:
        return value
    for pid in _all(el, "PartyId"):
        if "IPI" in (pid.get("Namespace") or "").upper():
            return (pid.text or "").strip()
    return ""


def read_ern(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """``(record fields, contributors, warnings)`` from an ERN message.

    Contributors are ``{"name", "ipi", "role"}`` dicts without shares.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except OSError as exc:
        raise DdexError(f"cannot read DDEX file {path}: {exc.strerror}") from None
    except ET.ParseError as exc:
        raise DdexError(f"{path} is not well-formed XML: {exc}") from None
    recording = _first(root, "SoundRecording")
    if recording is None:
        raise DdexError(f"{path}: no SoundRecording in the message; is it a DDEX ERN NewReleaseMessage?")
    parties = _parties(root)
    warnings: list[str] = []
    record: dict[str, Any] = {}

    def put(name: str, value: str) -> None:
        if value:
            record[name] = value

    put("isrc", _text(recording, "ISRC"))
    put("iswc", _text(recording, "ISWC"))
    title_el = _first(recording, "DisplayTitle", "ReferenceTitle", "Title")
    put("title", _text(recording, "DisplayTitleText") or _text(title_el, "TitleText"))
    artist = _text(recording, "DisplayArtistName")
    if not artist:
        display = _first(recording, "DisplayArtist")
        ref = _text(display, "ArtistPartyReference")
        artist = _party_name(parties.get(ref)) if ref else _party_name(display)
    put("display_artist", artist)
    put("duration", _text(recording, "Duration"))
    language = _text(recording, "LanguageOfPerformance")
    put("language", language.split("-")[0].lower())
    pline = _first(recording, "PLine")
    year_and_owner = " ".join(filter(None, [_text(pline, "Year"), _text(pline, "PLineCompany")]))
    put("p_line", _text(pline, "PLineText") or (f"℗ {year_and_owner}" if year_and_owner else ""))

    releases = list(_all(root, "Release"))
    release = next((r for r in releases if _text(r, "ICPN")), releases[0] if releases else None)
    put("genre", _text(recording, "GenreText") or _text(release, "GenreText"))
    if release is not None:
        put("upc", _text(release, "ICPN"))
        put("grid", _text(release, "GRid"))
        put("catalogue_number", _text(release, "CatalogNumber"))
        label_ref = _text(release, "ReleaseLabelReference")
        label_party = parties.get(label_ref) if label_ref else None
        put("label", _party_name(label_party) or _text(release, "LabelName") or _text(recording, "LabelName"))
        put("c_line", _text(release, "CLineText"))
        date = _text(release, "ReleaseDate", "OriginalReleaseDate") or _text(root, "StartDate")
        if len(date) >= 10:
            put("release_date", date[:10])
        put("party_id", _party_id(label_party))
    if "party_id" not in record:
        put("party_id", _party_id(_first(root, "MessageSender")))
    territories = list(dict.fromkeys((t.text or "").strip() for t in _all(root, "TerritoryCode") if t.text))
    if territories:
        record["territories"] = territories

    contributors = []
    for el in recording.iter():
        if _local(el.tag) not in ("Contributor", "ResourceContributor", "IndirectResourceContributor"):
            continue
        roles = [(r.text or "").strip() for r in el.iter() if _local(r.tag).endswith("Role")]
        cwr_roles = [_ROLE_TO_CWR[r.lower()] for r in roles if r.lower() in _ROLE_TO_CWR]
        if not cwr_roles:
            continue
        ref = _text(el, "ContributorPartyReference")
        party = parties.get(ref) if ref else el
        name = _party_name(party)
        role = "CA" if {"C", "A"} <= set(cwr_roles) else cwr_roles[0]
        contributors.append({"name": name, "ipi": _ipi(party), "role": role})
    if contributors:
        warnings.append(f"{len(contributors)} writer(s) in the ERN message carry no ownership shares; "
                        "add a CWR file (--cwr) to include writers and publishers")
    return record, contributors, warnings


def merge_records(ern: dict[str, Any], cwr: dict[str, Any] | None) -> dict[str, Any]:
    """Recording and release fields from ERN; the work (ISWC, writers, publishers with shares) from CWR.

    ERN values win for fields both have, except writers and publishers, which only CWR states with shares.
    """
    merged = dict(ern)
    for name, value in (cwr or {}).items():
        if name in ("writers", "publishers") or name not in merged:
            merged[name] = value
    return merged
