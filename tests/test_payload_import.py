"""Import from the formats rights holders have: DDEX ERN (recording, release) and CWR 2.x (work, shares)."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsafe.payload.cwr import CwrError, read_cwr, work_record
from soundsafe.payload.ddex import DdexError, merge_records, read_ern
from soundsafe.payload.serialize import canonical_record

DATA = Path(__file__).parent / "data"
ERN = DATA / "sample_release_ern43.xml"
CWR = DATA / "sample_work.cwr"


def test_ern_gives_recording_and_release_fields() -> None:
    record, contributors, warnings = read_ern(ERN)
    assert record["isrc"] == "USRC17607839" and record["iswc"] == "T0345246801"
    assert record["title"] == "Harbour Lights at Dawn" and record["display_artist"] == "Harbour Lights"
    assert record["upc"] == "000123456784" and record["grid"] == "A12425GABC1234002M"
    assert record["label"] == "SoundSafe Demo Records" and record["party_id"] == "PADPIDA2014120301K"
    assert record["release_date"] == "2026-03-14" and record["territories"] == ["GB", "IE"]
    assert record["duration"] == "PT3M25S" and record["language"] == "en" and record["genre"] == "Folk"
    assert contributors == [{"name": "Mira Okafor", "ipi": "00014107338", "role": "CA"}]
    assert any("ownership shares" in w for w in warnings)


def test_cwr_gives_the_work_with_writers_publishers_and_shares() -> None:
    record, warnings = work_record(read_cwr(CWR))
    assert warnings == []
    assert record["iswc"] == "T0345246801" and record["duration"] == "PT3M25S"
    assert [(w["name"], w["ipi"], w["share"], w["role"]) for w in record["writers"]] == [
        ("MIRA OKAFOR", "00014107338", 25.0, "CA"), ("TOMAS LINDQVIST", "01145982828", 25.0, "C")]
    assert record["publishers"] == [{"name": "SOUNDSAFE MUSIC PUBLISHING", "ipi": "00045620792", "share": 50.0,
                                     "role": "E"}]


def test_ern_and_cwr_merge_into_a_valid_record() -> None:
    ern, _, _ = read_ern(ERN)
    cwr, _ = work_record(read_cwr(CWR), "SSW0000001")
    record = canonical_record(merge_records(ern, cwr))
    assert record["title"] == "Harbour Lights at Dawn"  # the recording's title, not the work's upper case
    assert sum(e["share"] for e in record["writers"] + record["publishers"]) == 100


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    bad_xml = tmp_path / "bad.xml"
    bad_xml.write_text("<NewReleaseMessage><ResourceList>")
    with pytest.raises(DdexError, match="not well-formed XML"):
        read_ern(bad_xml)
    no_recording = tmp_path / "empty.xml"
    no_recording.write_text("<NewReleaseMessage/>")
    with pytest.raises(DdexError, match="no SoundRecording"):
        read_ern(no_recording)
    not_cwr = tmp_path / "x.cwr"
    not_cwr.write_text("hello\n")
    with pytest.raises(CwrError, match="no NWR or REV"):
        read_cwr(not_cwr)
    with pytest.raises(CwrError, match="no work 'NOPE'"):
        work_record(read_cwr(CWR), "NOPE")
