"""Packets, keys and soft decoding through a simulated channel: recovery, wrong keys, false accepts, fuzz."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundsafe.payload.channel import simulate_channel
from soundsafe.payload.decoder import StreamDecoder, decode_stream, false_accept_bound
from soundsafe.payload.keys import DEMO_KEY, PayloadKey, PayloadKeyError, generate_key_file, load_key
from soundsafe.payload.packets import (
    PRESETS,
    TYPE_DATA,
    CodeSettings,
    encode_payload,
    open_core,
    open_packet,
)
from soundsafe.payload.serialize import MAX_PAYLOAD_BYTES, PayloadTooLargeError, canonical_record, serialize
from tests.payload_strategies import records

KEY = PayloadKey(bytes(range(32)))

# The documented operating point the property test holds the codec to (standard code, 3 schedule cycles).
TEST_BER, TEST_LOSS, TEST_CYCLES = 0.03, 0.15, 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(max_owners=3), st.sampled_from(sorted(PRESETS)), st.integers(0, 2**32 - 1))
def test_record_survives_bit_errors_lost_chunks_and_unknown_start(record: dict, code: str, seed: int) -> None:
    try:
        encoded = encode_payload(record, KEY, PRESETS[code])
    except PayloadTooLargeError:
        return
    rng = np.random.default_rng(seed)
    start = int(rng.integers(0, encoded.cycle_chunks))
    bits = encoded.chunk_bits(TEST_CYCLES * encoded.cycle_chunks, start)
    result = decode_stream([simulate_channel(bits, ber=TEST_BER, loss=TEST_LOSS, rng=rng)], KEY, PRESETS[code])
    assert result.complete
    assert result.fields == canonical_record(record)
    assert result.missing == []
    assert result.segment_offsets == [start % encoded.cycle_chunks]


def test_cuts_and_repeats_are_separate_segments(demo_record: dict) -> None:
    encoded = encode_payload(demo_record, KEY)
    rng = np.random.default_rng(5)
    n = encoded.cycle_chunks
    # Three excerpts of the same track (one played twice), as a DJ set or an edited broadcast would give.
    segments = [simulate_channel(encoded.chunk_bits(n // 2, s), ber=0.02, loss=0.1, rng=rng)
                for s in (3, n // 2 + 7, 3)]
    result = decode_stream(segments, KEY)
    assert result.complete and result.fields == canonical_record(demo_record)
    assert result.segment_offsets == [3, n // 2 + 7, 3]


def test_isrc_is_read_from_any_three_chunks_before_the_rest(demo_record: dict) -> None:
    settings_ = CodeSettings()
    encoded = encode_payload(demo_record, KEY, settings_)
    for start in range(settings_.core_period):
        stream = StreamDecoder(KEY, settings_)
        chunks = simulate_channel(encoded.chunk_bits(settings_.core_period, start), ber=0.0,
                                  rng=np.random.default_rng(start))
        for llr in chunks:
            stream.push(llr)
        partial = stream.result()
        assert partial.fields == {"isrc": "USRC17607839"}
        assert not partial.complete and "iswc" in partial.missing and "isrc" not in partial.missing
        assert partial.confidence["isrc"] > 0.999


def test_two_chunks_and_the_parts_at_their_edges_hold_the_core(demo_record: dict) -> None:
    """A 3 s excerpt at any offset: two whole chunks, and at each edge a part of the chunk that carries the
    third core segment (chunks n−1 and n+2 at period 3), read as weaker soft bits."""
    encoded = encode_payload(demo_record, KEY)
    rng = np.random.default_rng(11)
    bits = encoded.chunk_bits(4, 6)
    llr = (bits * 2.0 - 1) * 4.0 + rng.normal(size=bits.shape)
    for share in (0.2, 0.5, 0.8):  # the part of chunk n−1 the excerpt holds; it holds 1 − share of chunk n+2
        edges = [llr[0] * share, llr[1], llr[2], llr[3] * (1 - share)]
        assert decode_stream([edges], KEY).fields == {"isrc": "USRC17607839"}
    # without the edge parts the third segment is missing and nothing is read
    assert decode_stream([[llr[1], llr[2]]], KEY).fields == {}


def test_wrong_key_recovers_nothing(demo_record: dict) -> None:
    encoded = encode_payload(demo_record, KEY)
    chunks = simulate_channel(encoded.chunk_bits(2 * encoded.cycle_chunks), ber=0.0, rng=np.random.default_rng(1))
    for other in (DEMO_KEY, PayloadKey(bytes(range(1, 33)))):
        result = decode_stream([chunks], other)
        assert result.fields == {} and not result.core_found


def test_packets_look_random_and_change_with_the_key(demo_record: dict) -> None:
    a = encode_payload(demo_record, KEY).chunk_bits(200)
    b = encode_payload(demo_record, DEMO_KEY).chunk_bits(200)
    assert 0.45 < a.mean() < 0.55  # whitened: balanced bits for the model
    assert 0.4 < (a != b).mean() < 0.6


def test_no_false_accept_on_a_million_random_packets() -> None:
    settings_ = CodeSettings()
    rng = np.random.default_rng(20261122)
    words = rng.integers(0, 2**63, size=1_000_000, dtype=np.int64).tolist()
    high = rng.integers(0, 2, size=1_000_000).tolist()
    accepted = 0
    for word, top in zip(words, high, strict=True):
        opened = open_packet(KEY, settings_, word | top << 63)
        accepted += opened is not None and opened[0] >> 6 == TYPE_DATA
    assert accepted == 0
    # core codewords: 96 random bits each, a 32-bit tag
    cores = rng.integers(0, 2**48, size=(300_000, 2), dtype=np.int64).tolist()
    assert not any(open_core(KEY, settings_, a << 48 | b) is not None for a, b in cores)
    assert false_accept_bound(settings_) < 1e-6


def test_the_core_chase_list_is_what_the_bound_counts() -> None:
    """The bound counts the core's flip patterns (2**core_chase_bits), not the data packets' (2**chase_bits)."""
    base = CodeSettings()
    assert false_accept_bound(base) == (base.core_period + 1) * 2**base.core_chase_bits * 2.0**-base.core_tag_bits
    assert false_accept_bound(CodeSettings(core_chase_bits=10)) == 2 * false_accept_bound(base)
    assert false_accept_bound(CodeSettings(chase_bits=10)) == false_accept_bound(base)
    with pytest.raises(ValueError, match="core_chase_bits must be 0…12"):
        CodeSettings(core_chase_bits=13)


def test_core_chase_reads_a_codeword_with_errors_among_its_9_weakest_bits() -> None:
    """Four wrong bits, the 6th to 9th least reliable of a 96-bit core codeword: Chase-9 decodes it, Chase-6
    (whose list holds only the 6 weakest) cannot."""
    record = {"isrc": "USRC17607839", "title": "t", "display_artist": "a"}
    encoded = encode_payload(record, KEY)
    bits = encoded.chunk_bits(3)[:, : CodeSettings().core_layer_bits]
    llr = np.where(bits == 1, 8.0, -8.0)
    weak = [(0, 3), (1, 7), (2, 1), (2, 30), (0, 20), (1, 11), (2, 15), (0, 9), (1, 25)]
    for i, (c, b) in enumerate(weak):  # weakest first; the last four are wrong
        llr[c, b] *= (-1 if i >= 5 else 1) * (0.1 + 0.05 * i)
    chunks = [np.concatenate([row, np.zeros(32)]) for row in llr]
    assert decode_stream([chunks], KEY).fields.get("isrc") == "USRC17607839"
    assert decode_stream([chunks], KEY, CodeSettings(core_chase_bits=6)).fields.get("isrc") is None


def test_random_soft_bits_decode_to_nothing() -> None:
    rng = np.random.default_rng(7)
    for scale in (0.5, 3.0, 30.0):
        result = decode_stream([list(rng.normal(size=(300, 64)) * scale)], KEY)
        assert result.fields == {} and not result.complete


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.lists(st.floats(allow_nan=True, allow_infinity=True),
                                                      min_size=64, max_size=64)), max_size=20), max_size=3))
def test_fuzzed_soft_bits_never_crash_the_decoder(segments: list) -> None:
    result = decode_stream(segments, KEY)
    assert isinstance(result.fields, dict)


def test_malformed_chunks_get_a_clear_error() -> None:
    with pytest.raises(ValueError, match="64 soft bits"):
        decode_stream([[np.zeros(63)]], KEY)


def test_a_maximal_record_needs_several_blocks_and_still_decodes(demo_record: dict) -> None:
    rng = random.Random(1)
    record = dict(demo_record)
    ipi = demo_record["writers"][0]["ipi"]
    writers: list[dict] = []
    while True:
        name = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(120))
        trial = [*writers, {"name": name, "ipi": ipi, "share": 0.0, "role": "C"}]
        trial[0] = {**trial[0], "share": 50.0}
        try:
            size = len(serialize({**record, "writers": trial}))
        except PayloadTooLargeError:
            break
        writers = trial
    record["writers"] = writers
    assert MAX_PAYLOAD_BYTES - 130 < size <= MAX_PAYLOAD_BYTES
    encoded = encode_payload(record, KEY)
    assert encoded.layout.blocks > 1
    chunks = simulate_channel(encoded.chunk_bits(encoded.cycle_chunks * 3 // 2, 100), ber=0.01, loss=0.1,
                              rng=np.random.default_rng(2))
    result = decode_stream([chunks], KEY)
    assert result.complete and result.fields == canonical_record(record)


def test_settings_and_keys_reject_bad_values(tmp_path) -> None:
    with pytest.raises(ValueError, match="packet_bits"):
        CodeSettings(packet_bits=60)
    with pytest.raises(ValueError, match="parity"):
        CodeSettings(parity=0.3)
    with pytest.raises(ValueError, match="core_period ≥ 3"):
        CodeSettings(core_period=2)
    with pytest.raises(PayloadKeyError, match="at least 16"):
        PayloadKey(b"short")
    path = tmp_path / "k.hex"
    key = generate_key_file(path)
    assert load_key(path).fingerprint == key.fingerprint
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(PayloadKeyError, match="refusing to overwrite"):
        generate_key_file(path)


@pytest.mark.parametrize("bits", [48, 128, 256])
def test_other_packet_sizes_round_trip(demo_record: dict, bits: int) -> None:
    settings_ = CodeSettings(packet_bits=bits, core_period=3 if bits > 48 else 4)
    encoded = encode_payload(demo_record, KEY, settings_)
    chunks = simulate_channel(encoded.chunk_bits(2 * encoded.cycle_chunks, 9), ber=0.01, loss=0.1,
                              rng=np.random.default_rng(bits))
    result = decode_stream([chunks], KEY, settings_)
    assert result.complete and result.fields == canonical_record(demo_record)
