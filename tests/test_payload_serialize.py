"""Serialization: exact round trips, the size limit, clear errors, and a fuzzed reader."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundsafe.payload.record import RecordError
from soundsafe.payload.serialize import (
    MAX_PAYLOAD_BYTES,
    PayloadTooLargeError,
    canonical_record,
    deserialize,
    field_sizes,
    serialize,
)
from soundsafe.payload.textcodec import METHOD_HUFFMAN, decode_text, encode_text
from soundsafe.payload.wire import PayloadFormatError
from tests.payload_strategies import ipis, records

SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(records())
def test_any_valid_record_round_trips_exactly_or_reports_its_size(record: dict) -> None:
    canonical = canonical_record(record)
    assert canonical_record(canonical) == canonical  # the canonical form is a fixed point
    try:
        data = serialize(record)
    except PayloadTooLargeError as exc:
        assert exc.size > MAX_PAYLOAD_BYTES
        assert f"{exc.size - MAX_PAYLOAD_BYTES:,} bytes over" in str(exc)
        return
    assert len(data) <= MAX_PAYLOAD_BYTES
    assert deserialize(data) == canonical
    assert sum(field_sizes(record).values()) + 1 == len(data)


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
       st.lists(st.text(max_size=40), max_size=4))
def test_text_codec_round_trips_with_any_context(text: str, context: list[str]) -> None:
    method, body = encode_text(text, context)
    assert decode_text(method, body, context) == text
    assert len(body) <= len(text.encode())  # never worse than raw UTF-8


def test_text_codec_compresses_typical_metadata() -> None:
    method, body = encode_text("Harbour Lights at Dawn")
    assert method == METHOD_HUFFMAN and len(body) < 0.7 * len("Harbour Lights at Dawn")
    # A label already written costs a few bytes when the P-line repeats it.
    _, repeated = encode_text("℗ 2026 SoundSafe Demo Records", ["SoundSafe Demo Records"])
    assert len(repeated) <= 12


def test_typical_record_is_a_fraction_of_its_json(demo_record: dict) -> None:
    data = serialize(demo_record)
    assert len(data) < 0.4 * len(json.dumps(demo_record).encode())


def test_oversize_record_names_the_largest_fields(demo_record: dict) -> None:
    rng = random.Random(3)
    big = dict(demo_record)
    names = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ") for _ in range(120))
             for _ in range(60)]
    ipi = demo_record["writers"][0]["ipi"]
    big["writers"] = [{"name": n, "ipi": ipi, "share": 1.0, "role": "C"} for n in names]
    big["publishers"] = [{"name": "P", "ipi": ipi, "share": 40.0}]
    with pytest.raises(PayloadTooLargeError) as info:
        serialize(big)
    message = str(info.value)
    assert "over the 3,474-byte limit" in message and "largest fields: writers" in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.update(isrc="US-RC1-76-0783"), "isrc"),
        (lambda r: r.update(iswc="T-034524680-2"), "iswc"),
        (lambda r: r.update(upc="000123456785"), "upc"),
        (lambda r: r["writers"][0].update(ipi="00014107339"), "writers"),
        (lambda r: r["writers"][0].update(share=12.345), "writers"),
        (lambda r: r["writers"][0].update(share=10.0), "writers+publishers"),
        (lambda r: r.update(party_id="0000000121032684"), "party_id"),
        (lambda r: r.update(mood="happy"), "mood"),
        (lambda r: r.update(territories=["XX"]), "territories"),
        (lambda r: r.update(release_date="2026-02-30"), "release_date"),
    ],
)
def test_bad_input_gives_an_error_naming_the_field(demo_record: dict, change, field: str) -> None:
    record = json.loads(json.dumps(demo_record))
    change(record)
    with pytest.raises(RecordError) as info:
        serialize(record)
    assert any(p.startswith(field) for p in info.value.problems), info.value.problems


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_fuzzed_bytes_never_crash_the_reader(data: bytes) -> None:
    try:
        deserialize(data)
    except PayloadFormatError:
        pass


def test_fuzzed_mutations_of_a_real_payload(demo_record: dict) -> None:
    data = bytearray(serialize(demo_record))
    rng = random.Random(11)
    for _ in range(2000):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            deserialize(bytes(mutated[: rng.randint(0, len(mutated))]))
        except PayloadFormatError:
            pass


@given(ipis)
def test_packed_ipi_check_digits_are_recomputed(ipi: str) -> None:
    record = {"isrc": "USRC17607839", "title": "t", "display_artist": "a",
              "writers": [{"name": "w", "ipi": ipi, "share": 100.0, "role": "C"}]}
    assert deserialize(serialize(record))["writers"][0]["ipi"] == ipi
