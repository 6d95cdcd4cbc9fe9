"""Identifier validation: published examples, and check digits that catch single-digit errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soundsafe.payload.identifiers import (
    IdentifierError,
    ean_check_digit,
    ipi_check_digits,
    isni_check_char,
    validate_dpid,
    validate_ean,
    validate_grid,
    validate_ipi,
    validate_isni,
    validate_isrc,
    validate_iswc,
)


@pytest.mark.parametrize(
    ("check", "value", "canonical"),
    [
        (validate_isrc, "US-RC1-76-07839", "USRC17607839"),
        (validate_iswc, "T-034.524.680-1", "T-034524680-1"),
        (validate_ean, "4006381333931", "4006381333931"),
        (validate_ean, "036000291452", "036000291452"),  # UPC-A
        (validate_ipi, "00014107338", "00014107338"),
        (validate_ipi, "1145982828", "01145982828"),  # leading zero dropped by a spreadsheet
        (validate_isni, "0000 0002 1825 0097", "0000000218250097"),  # ORCID's documented example
        (validate_grid, "A1-2425G-ABC1234002-M", "A12425GABC1234002M"),  # GRid handbook example
        (validate_dpid, "padpida2014120301k", "PADPIDA2014120301K"),  # format only: no check character
    ],
)
def test_published_identifiers_are_valid(check, value, canonical) -> None:
    assert check(value) == canonical


@pytest.mark.parametrize(
    ("check", "value", "says"),
    [
        (validate_isrc, "USRC1760783", "malformed"),
        (validate_isrc, "1SRC17607839", "malformed"),
        (validate_iswc, "T-034.524.680-2", "check digit 2, expected 1"),
        (validate_ean, "4006381333932", "check digit 2, expected 1"),
        (validate_ipi, "00014107339", "expected 38"),
        (validate_isni, "0000000218250098", "expected 7"),
        (validate_grid, "A1-2425G-ABC1234002-N", "expected M"),
        (validate_dpid, "PADPID12", "malformed"),
    ],
)
def test_bad_identifiers_say_what_is_wrong(check, value, says) -> None:
    with pytest.raises(IdentifierError, match=says):
        check(value)


def _mutate(code: str, position: int, delta: int) -> str:
    digit = (int(code[position]) + delta) % 10
    return code[:position] + str(digit) + code[position + 1 :]


@given(st.text("0123456789", min_size=12, max_size=12), st.integers(0, 12), st.integers(1, 9))
def test_ean_catches_every_single_digit_error(body: str, position: int, delta: int) -> None:
    code = body + str(ean_check_digit(body))
    assert validate_ean(code) == code
    with pytest.raises(IdentifierError):
        validate_ean(_mutate(code, position, delta))


@given(st.text("0123456789", min_size=9, max_size=9), st.integers(0, 8), st.integers(1, 9))
def test_ipi_catches_every_single_digit_error(base: str, position: int, delta: int) -> None:
    check = ipi_check_digits(base)
    if check > 99:
        with pytest.raises(IdentifierError):
            validate_ipi(base + "00")
        return
    code = f"{base}{check:02d}"
    assert validate_ipi(code) == code
    with pytest.raises(IdentifierError):
        validate_ipi(_mutate(code, position, delta))


@given(st.text("0123456789", min_size=15, max_size=15), st.integers(0, 14), st.integers(1, 9))
def test_isni_catches_every_single_digit_error(body: str, position: int, delta: int) -> None:
    code = body + isni_check_char(body)
    assert validate_isni(code) == code
    with pytest.raises(IdentifierError):
        validate_isni(_mutate(code, position, delta))
