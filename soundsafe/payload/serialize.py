"""Compact binary serialization of a metadata record, with the 3,474-byte hard limit.

Format (version 1)::

    version:u8  { tag:u8  length:varint  body:length bytes }*

``tag`` is ``field_id << 3 | method`` where ``field_id`` is the field's position in
:data:`soundsafe.payload.record.FIELDS` and ``method`` says how the body is coded (a text method, or the
variant of an identifier). Fields are written in :data:`PRIORITY` order, so a reader that recovers only a
prefix of the bytes still gets the most important fields. Identifiers are packed into integers over their
own alphabets with check characters dropped (they are recomputed on read); dates, durations and shares are
varints; text is the shortest of UTF-8, static Huffman or primed deflate (:mod:`.textcodec`).

The bytes store the *canonical* form of a record (:func:`canonical_record`): identifiers compact and upper
case, shares as floats with two decimals, durations as ``PT#H#M#S`` in milliseconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from soundsafe.payload.codes import COUNTRIES, LANGUAGES, TERRITORY_WORLDWIDE
from soundsafe.payload.identifiers import (
    ean_check_digit,
    ipi_check_digits,
    isni_check_char,
    iswc_check_digit,
    mod37_36_check_char,
    validate_dpid,
    validate_ean,
    validate_grid,
    validate_ipi,
    validate_isni,
    validate_isrc,
    validate_iswc,
)
from soundsafe.payload.record import DURATION, FIELDS, PUBLISHER_ROLES, WRITER_ROLES, RecordError, validate_record
from soundsafe.payload.textcodec import decode_text, encode_text
from soundsafe.payload.wire import ByteReader, PayloadFormatError, unzigzag, varint, zigzag

__all__ = [
    "FORMAT_VERSION",
    "MAX_PAYLOAD_BYTES",
    "PRIORITY",
    "FieldSpan",
    "PayloadTooLargeError",
    "canonical_record",
    "deserialize",
    "duration_text",
    "field_sizes",
    "iter_fields",
    "serialize",
]

FORMAT_VERSION = 1
MAX_PAYLOAD_BYTES = 3474
# Write order = read priority: what identifies the recording and who is paid comes first.
PRIORITY = ("isrc", "iswc", "title", "display_artist", "writers", "publishers", "upc", "grid", "catalogue_number",
            "label", "release_date", "party_id", "p_line", "c_line", "territories", "language", "genre", "duration")
_FIELD_NAMES = tuple(FIELDS)
_FIELD_ID = {name: i for i, name in enumerate(_FIELD_NAMES)}
_TEXT_FIELDS = {"catalogue_number", "title", "display_artist", "label", "p_line", "c_line", "genre"}
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TERRITORY_CODES = (*sorted(COUNTRIES), TERRITORY_WORLDWIDE)
_LANGUAGE_CODES = tuple(sorted(LANGUAGES))
_EPOCH = dt.date(2000, 1, 1)


class PayloadTooLargeError(RecordError):
    """The serialized record is over :data:`MAX_PAYLOAD_BYTES`; the message names the largest fields."""

    def __init__(self, size: int, sizes: Mapping[str, int]) -> None:
        largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:4]
        listed = ", ".join(f"{name} {n:,} B" for name, n in largest)
        super().__init__([
            f"record: serialized size {size:,} bytes is {size - MAX_PAYLOAD_BYTES:,} bytes over the "
            f"{MAX_PAYLOAD_BYTES:,}-byte limit; largest fields: {listed}"
        ])
        self.size = size
        self.sizes = dict(sizes)


# --- canonical form ---------------------------------------------------------------------------------------


def _duration_ms(value: str) -> int:
    h, m, s = DURATION.fullmatch(value).groups()  # type: ignore[union-attr]  # validated before
    return round((int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)) * 1000)


def duration_text(ms: int) -> str:
    """Canonical ISO 8601 duration for ``ms`` milliseconds (``PT3M25S``, ``PT30.5S``, ``PT1H``)."""
    h, rest = divmod(ms, 3_600_000)
    m, s_ms = divmod(rest, 60_000)
    parts = "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "")
    if s_ms or parts == "PT":
        seconds = f"{s_ms // 1000}" if s_ms % 1000 == 0 else f"{s_ms / 1000:.3f}".rstrip("0")
        parts += f"{seconds}S"
    return parts


def _canonical_party(value: str) -> str:
    return validate_dpid(value) if value.upper().startswith("PADPID") else validate_isni(value)


def _canonical_owner(entry: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry["name"], "ipi": validate_ipi(entry["ipi"]),
                           "share": round(float(entry["share"]), 2)}
    if "role" in entry:
        out["role"] = entry["role"]
    return out


_CANONICAL: dict[str, Callable[[Any], Any]] = {
    "isrc": validate_isrc,
    "iswc": validate_iswc,
    "upc": validate_ean,
    "grid": validate_grid,
    "writers": lambda v: [_canonical_owner(e) for e in v],
    "publishers": lambda v: [_canonical_owner(e) for e in v],
    "release_date": lambda v: dt.date.fromisoformat(v).isoformat(),
    "territories": list,
    "duration": lambda v: duration_text(_duration_ms(v)),
    "party_id": _canonical_party,
}


def canonical_record(record: Any) -> dict[str, Any]:
    """Validate ``record`` (raising :class:`RecordError`) and return the canonical form the payload stores."""
    valid = validate_record(record)
    return {name: _CANONICAL.get(name, lambda v: v)(valid[name]) for name in FIELDS if name in valid}


# --- field codecs -------------------------------------------------------------------------------------------


def _pack_base(text: str, alphabet: str) -> int:
    value = 0
    for ch in text:
        value = value * len(alphabet) + alphabet.index(ch)
    return value


def _unpack_base(value: int, alphabet: str, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, len(alphabet))
        chars.append(alphabet[digit])
    if value:
        raise PayloadFormatError("packed identifier is out of range")
    return "".join(reversed(chars))


def _isrc_int(code: str) -> int:
    return ((_pack_base(code[:2], _LETTERS) * 36**3 + _pack_base(code[2:5], _ALNUM)) * 100 + int(code[5:7])) \
        * 100_000 + int(code[7:])


def _isrc_from_int(value: int) -> str:
    rest, designation = divmod(value, 100_000)
    rest, year = divmod(rest, 100)
    country, registrant = divmod(rest, 36**3)
    return _unpack_base(country, _LETTERS, 2) + _unpack_base(registrant, _ALNUM, 3) + f"{year:02d}{designation:05d}"


ISRC_BITS = (26**2 * 36**3 * 100 * 100_000 - 1).bit_length()  # 49: the core packet packs ISRCs this wide
ISWC_BITS = (10**9 - 1).bit_length()  # 30


def pack_isrc(code: str) -> int:
    """An ISRC as an integer below ``2**ISRC_BITS`` (country, registrant, year, designation mixed radix)."""
    return _isrc_int(validate_isrc(code))


def unpack_isrc(value: int) -> str:
    return _isrc_from_int(value)


def pack_iswc(code: str) -> int:
    """An ISWC's nine work digits as an integer (the check digit is recomputed on unpacking)."""
    return int(validate_iswc(code)[2:11])


def unpack_iswc(value: int) -> str:
    if not 0 <= value < 10**9:
        raise PayloadFormatError("packed ISWC is out of range")
    digits = f"{value:09d}"
    return f"T-{digits}-{iswc_check_digit(digits)}"


def _ipi_from_int(value: int) -> str:
    if value >= 10**9:
        raise PayloadFormatError("packed IPI name number is out of range")
    base = f"{value:09d}"
    check = ipi_check_digits(base)
    if check > 99:
        raise PayloadFormatError(f"packed IPI base {base} has no valid check digits")
    return f"{base}{check:02d}"


def _encode_owners(entries: list[dict[str, Any]], roles: tuple[str, ...], context: list[str]) -> bytes:
    out = bytearray(varint(len(entries)))
    for e in entries:
        out.append(roles.index(e["role"]) + 1 if "role" in e else 0)
        out += int(e["ipi"][:9]).to_bytes(4, "big")
        out += varint(round(e["share"] * 100))
        method, body = encode_text(e["name"], context)
        context.append(e["name"])
        out += varint(len(body) << 2 | method) + body
    return bytes(out)


def _decode_owners(reader: ByteReader, roles: tuple[str, ...], context: list[str]) -> list[dict[str, Any]]:
    entries = []
    for _ in range(reader.varint()):
        role = reader.byte()
        if role > len(roles):
            raise PayloadFormatError(f"unknown role code {role}")
        ipi = _ipi_from_int(reader.uint(4))
        hundredths = reader.varint()
        if hundredths > 10_000:
            raise PayloadFormatError(f"share {hundredths / 100} % is over 100 %")
        header = reader.varint()
        name = decode_text(header & 3, reader.take(header >> 2), context)
        context.append(name)
        entry: dict[str, Any] = {"name": name, "ipi": ipi, "share": round(hundredths / 100, 2)}
        if role:
            entry["role"] = roles[role - 1]
        entries.append(entry)
    return entries


def _encode_field(name: str, value: Any, context: list[str]) -> tuple[int, bytes]:
    """``(method, body)`` for one canonical field value; text goes into ``context`` for later fields."""
    if name in _TEXT_FIELDS:
        method, body = encode_text(value, context)
        context.append(value)
        return method, body
    if name == "isrc":
        return 0, _isrc_int(value).to_bytes(7, "big")
    if name == "iswc":
        return 0, int(value[2:11]).to_bytes(4, "big")
    if name == "upc":
        return 0, varint(int(value[:-1]) * 2 + (len(value) == 13))
    if name == "grid":
        return 0, _pack_base(value[2:17], _ALNUM).to_bytes(10, "big")
    if name == "writers":
        return 0, _encode_owners(value, WRITER_ROLES, context)
    if name == "publishers":
        return 0, _encode_owners(value, PUBLISHER_ROLES, context)
    if name == "release_date":
        return 0, varint(zigzag((dt.date.fromisoformat(value) - _EPOCH).days))
    if name == "territories":
        return 0, varint(len(value)) + bytes(_TERRITORY_CODES.index(t) for t in value)
    if name == "language":
        return 0, varint(_LANGUAGE_CODES.index(value))
    if name == "duration":
        return 0, varint(_duration_ms(value))
    if name == "party_id":
        if value.startswith("PADPID"):
            return 1, bytes([_LETTERS.index(value[6])]) + _pack_base(value[7:], _ALNUM).to_bytes(8, "big")
        return 0, int(value[:15]).to_bytes(7, "big")
    raise KeyError(name)


def _decode_field(name: str, method: int, body: bytes, context: list[str]) -> Any:
    reader = ByteReader(body)
    if name in _TEXT_FIELDS:
        value: Any = decode_text(method, body, context)
        context.append(value)
        return value
    if name == "isrc":
        value = _isrc_from_int(reader.uint(7))
    elif name == "iswc":
        value = unpack_iswc(reader.uint(4))
    elif name == "upc":
        packed = reader.varint(max_bytes=8)
        digits = f"{packed >> 1:0{12 if packed & 1 else 11}d}"
        if len(digits) > (12 if packed & 1 else 11):
            raise PayloadFormatError("packed UPC/EAN is out of range")
        value = digits + str(ean_check_digit(digits))
    elif name == "grid":
        body15 = "A1" + _unpack_base(reader.uint(10), _ALNUM, 15)
        value = body15 + mod37_36_check_char(body15)
    elif name in ("writers", "publishers"):
        value = _decode_owners(reader, WRITER_ROLES if name == "writers" else PUBLISHER_ROLES, context)
    elif name == "release_date":
        try:
            value = (_EPOCH + dt.timedelta(days=unzigzag(reader.varint()))).isoformat()
        except OverflowError:
            raise PayloadFormatError("release date is out of range") from None
    elif name == "territories":
        codes = [reader.byte() for _ in range(reader.varint())]
        if any(c >= len(_TERRITORY_CODES) for c in codes):
            raise PayloadFormatError("unknown territory code")
        value = [_TERRITORY_CODES[c] for c in codes]
    elif name == "language":
        index = reader.varint()
        if index >= len(_LANGUAGE_CODES):
            raise PayloadFormatError("unknown language code")
        value = _LANGUAGE_CODES[index]
    elif name == "duration":
        value = duration_text(reader.varint(max_bytes=8))
    elif name == "party_id":
        if method == 1:
            letter = reader.byte()
            if letter >= 26:
                raise PayloadFormatError("bad DDEX party ID letter")
            value = "PADPID" + _LETTERS[letter] + _unpack_base(reader.uint(8), _ALNUM, 11)
        else:
            digits = reader.uint(7)
            if digits >= 10**15:
                raise PayloadFormatError("packed ISNI is out of range")
            value = f"{digits:015d}" + isni_check_char(f"{digits:015d}")
    else:
        raise PayloadFormatError(f"no decoder for field {name}")
    if reader.remaining:
        raise PayloadFormatError(f"{name}: {reader.remaining} unexpected bytes after the value")
    return value


# --- whole records ------------------------------------------------------------------------------------------


def _encode_fields(record: Mapping[str, Any], names: tuple[str, ...]) -> list[tuple[str, bytes]]:
    context: list[str] = []
    encoded = []
    for name in names:
        if name in record:
            method, body = _encode_field(name, record[name], context)
            encoded.append((name, bytes([_FIELD_ID[name] << 3 | method]) + varint(len(body)) + body))
    return encoded


def field_sizes(record: Any) -> dict[str, int]:
    """Serialized bytes per field (tag and length included), in write order."""
    return {name: len(chunk) for name, chunk in _encode_fields(canonical_record(record), PRIORITY)}


def serialize(record: Any, *, exclude: tuple[str, ...] = ()) -> bytes:
    """Serialize a valid record; raise :class:`RecordError` (or :class:`PayloadTooLargeError`) otherwise.

    The size limit applies to the whole record; ``exclude`` drops fields that travel elsewhere (the core
    packet carries ISRC and ISWC) from the returned bytes.
    """
    canonical = canonical_record(record)
    encoded = _encode_fields(canonical, PRIORITY)
    size = 1 + sum(len(chunk) for _, chunk in encoded)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(size, {name: len(chunk) for name, chunk in encoded})
    if exclude:
        encoded = _encode_fields(canonical, tuple(n for n in PRIORITY if n not in exclude))
    return bytes([FORMAT_VERSION]) + b"".join(chunk for _, chunk in encoded)


@dataclass(frozen=True)
class FieldSpan:
    """One decoded field and where its bytes lie in the serialized payload."""

    name: str
    value: Any
    start: int
    end: int


def iter_fields(data: bytes) -> Iterator[FieldSpan]:
    """Decode fields one by one; raises :class:`PayloadFormatError` where the bytes stop making sense."""
    reader = ByteReader(data)
    if not data:
        raise PayloadFormatError("payload is empty")
    version = reader.byte()
    if version != FORMAT_VERSION:
        raise PayloadFormatError(f"payload format version {version} is not supported (expected {FORMAT_VERSION})")
    seen: set[str] = set()
    context: list[str] = []
    while reader.remaining:
        start = reader.pos
        tag = reader.byte()
        field_id, method = tag >> 3, tag & 7
        if field_id >= len(FIELDS):
            raise PayloadFormatError(f"unknown field tag {field_id} at offset {start}")
        name = _FIELD_NAMES[field_id]
        if name in seen:
            raise PayloadFormatError(f"field {name} appears twice")
        seen.add(name)
        body = reader.take(reader.varint())
        yield FieldSpan(name, _decode_field(name, method, body, context), start, reader.pos)


def deserialize(data: bytes, *, require_valid: bool = True) -> dict[str, Any]:
    """Bytes back to the canonical record; with ``require_valid`` the result must pass record validation."""
    record = {span.name: span.value for span in iter_fields(data)}
    ordered = {name: record[name] for name in FIELDS if name in record}
    if require_valid:
        try:
            validate_record(ordered)
        except RecordError as exc:
            raise PayloadFormatError(f"decoded record is invalid: {exc}") from None
    return ordered
