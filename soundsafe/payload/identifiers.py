"""Rights-metadata identifiers: format and check-digit validation, and check-digit computation.

Each ``validate_*`` function returns the identifier in canonical form (upper case, separators removed) or
raises :class:`IdentifierError` saying what is wrong. The ``*_check`` functions compute check characters so
generators (the demo corpus, tests) can make valid identifiers.
"""

from __future__ import annotations

import re

__all__ = [
    "IdentifierError",
    "ean_check_digit",
    "ipi_check_digits",
    "isni_check_char",
    "iswc_check_digit",
    "mod37_36_check_char",
    "validate_dpid",
    "validate_ean",
    "validate_grid",
    "validate_ipi",
    "validate_isni",
    "validate_isrc",
    "validate_iswc",
]

_ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class IdentifierError(ValueError):
    """An identifier has the wrong format or a wrong check digit."""


def _compact(value: str, kind: str) -> str:
    if not isinstance(value, str):
        raise IdentifierError(f"{kind} must be a string, got {type(value).__name__}")
    return re.sub(r"[\s.\-]", "", value).upper()


# ISRC (ISO 3901): CC-XXX-YY-NNNNN; no check digit, the format is the whole rule.
_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{2}[0-9]{5}$")


def validate_isrc(value: str) -> str:
    """Validate an ISRC (e.g. ``US-RC1-76-07839``) and return it compact (``USRC17607839``)."""
    code = _compact(value, "ISRC")
    if not _ISRC.match(code):
        raise IdentifierError(
            f"ISRC {value!r} is malformed: expected 12 characters CC XXX YY NNNNN "
            "(country letters, 3-character registrant, 2-digit year, 5-digit designation)"
        )
    return code


def iswc_check_digit(nine_digits: str) -> int:
    """ISWC check digit: (10 - (1 + sum(i * d_i)) mod 10) mod 10 over the 9 work digits."""
    total = 1 + sum(i * int(d) for i, d in enumerate(nine_digits, start=1))
    return (10 - total % 10) % 10


def validate_iswc(value: str) -> str:
    """Validate an ISWC (e.g. ``T-034.524.680-1``) and return it as ``T-034524680-1``."""
    code = _compact(value, "ISWC")
    if not re.fullmatch(r"T[0-9]{10}", code):
        raise IdentifierError(f"ISWC {value!r} is malformed: expected T followed by 9 digits and a check digit")
    expected = iswc_check_digit(code[1:10])
    if int(code[10]) != expected:
        raise IdentifierError(f"ISWC {value!r} has check digit {code[10]}, expected {expected}")
    return f"T-{code[1:10]}-{code[10]}"


def ean_check_digit(digits: str) -> int:
    """GTIN (UPC-A / EAN-13) check digit: weights 3,1,3,… from the right of the payload digits."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def validate_ean(value: str) -> str:
    """Validate a UPC-A (12 digits) or EAN-13 (13 digits) release code and return its digits."""
    code = _compact(value, "UPC/EAN")
    if not re.fullmatch(r"[0-9]{12,13}", code):
        raise IdentifierError(f"UPC/EAN {value!r} is malformed: expected 12 (UPC-A) or 13 (EAN-13) digits")
    expected = ean_check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise IdentifierError(f"UPC/EAN {value!r} has check digit {code[-1]}, expected {expected}")
    return code


def ipi_check_digits(nine_digits: str) -> int:
    """IPI name number check: (101 - sum(d_i * w_i) mod 101) mod 101 with weights 10..2.

    Checked against published IPI name numbers (00014107338, 01145982828, 00045620792).
    A result of 100 cannot be written in two digits: such bases are never issued.
    """
    total = sum(int(d) * w for d, w in zip(nine_digits, range(10, 1, -1), strict=True))
    return (101 - total % 101) % 101


def validate_ipi(value: str) -> str:
    """Validate an 11-digit IPI name number and return it zero-padded."""
    code = _compact(value, "IPI name number")
    if not re.fullmatch(r"[0-9]{9,11}", code):
        raise IdentifierError(f"IPI name number {value!r} is malformed: expected 11 digits")
    code = code.zfill(11)
    expected = ipi_check_digits(code[:9])
    if expected > 99 or int(code[9:]) != expected:
        raise IdentifierError(f"IPI name number {value!r} has check digits {code[9:]}, expected {expected:02d}")
    return code


def isni_check_char(fifteen_digits: str) -> str:
    """ISO 7064 MOD 11-2 check character (ISNI, ORCID): a digit or ``X``."""
    total = 0
    for d in fifteen_digits:
        total = (total + int(d)) * 2
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def validate_isni(value: str) -> str:
    """Validate a 16-character ISNI (``0000 0001 2103 2683``) and return it compact."""
    code = _compact(value, "ISNI")
    if not re.fullmatch(r"[0-9]{15}[0-9X]", code):
        raise IdentifierError(f"ISNI {value!r} is malformed: expected 15 digits and a check character (digit or X)")
    expected = isni_check_char(code[:15])
    if code[15] != expected:
        raise IdentifierError(f"ISNI {value!r} has check character {code[15]}, expected {expected}")
    return code


def mod37_36_check_char(body: str) -> str:
    """ISO 7064 MOD 37,36 hybrid check character over an alphanumeric string (GRid, DPID)."""
    product = 36
    for ch in body:
        total = (product + _ALNUM36.index(ch)) % 36 or 36
        product = (total * 2) % 37
    return _ALNUM36[(37 - product) % 36]


def validate_grid(value: str) -> str:
    """Validate a Global Release Identifier (``A1-2425G-ABC1234002-M``) and return it compact."""
    code = _compact(value, "GRid")
    if not re.fullmatch(r"A1[A-Z0-9]{5}[A-Z0-9]{10}[A-Z0-9]", code):
        raise IdentifierError(
            f"GRid {value!r} is malformed: expected A1, a 5-character issuer, a 10-character release and a check"
        )
    expected = mod37_36_check_char(code[:-1])
    if code[-1] != expected:
        raise IdentifierError(f"GRid {value!r} has check character {code[-1]}, expected {expected}")
    return code


def validate_dpid(value: str) -> str:
    """Validate the format of a DDEX Party ID (``PADPIDA`` followed by 11 alphanumerics)."""
    code = _compact(value, "DDEX party ID")
    if not re.fullmatch(r"PADPID[A-Z][0-9A-Z]{11}", code):
        raise IdentifierError(f"DDEX party ID {value!r} is malformed: expected PADPID, a letter and 11 characters")
    return code
