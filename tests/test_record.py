"""The metadata record schema: valid demo records pass; each kind of bad input names its field."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from soundsafe.corpus.metadata import make_record
from soundsafe.corpus.scores import NoteEvent, Piece
from soundsafe.payload.record import FIELDS, RecordError, record_problems, validate_record

PIECE = Piece("bach/bwv66.6.mxl", "chorale", "Christ unser Herr", "Johann Sebastian Bach",
              ((NoteEvent(0, 1, 60, 1.0),),), 4.0, 1.0, 0.0, 4.0, None)


@pytest.fixture
def record() -> dict:
    return make_record(3, PIECE, 30.0, np.random.default_rng(0))


def test_demo_records_are_valid_and_cover_every_field(record: dict) -> None:
    assert record_problems(record) == []
    assert set(record) == set(FIELDS)
    assert len(FIELDS) == 18
    shares = [w["share"] for w in record["writers"]] + [p["share"] for p in record["publishers"]]
    assert sum(shares) == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (lambda r: r.update(isrc="QZSSD2"), "isrc", "malformed"),
        (lambda r: r.update(iswc="T-034524680-9"), "iswc", "check digit"),
        (lambda r: r["writers"][0].update(ipi="00014107339"), "writers", "ipi"),
        (lambda r: r["writers"][0].update(share=10.0), "writers+publishers", "add up to"),
        (lambda r: r.update(territories=["US", "ZZ"]), "territories", "ZZ"),
        (lambda r: r.update(language="english"), "language", "ISO 639"),
        (lambda r: r.update(release_date="2024-13-01"), "release_date", "ISO date"),
        (lambda r: r.update(duration="30 seconds"), "duration", "ISO 8601"),
        (lambda r: r.update(mood="happy"), "mood", "unknown field"),
        (lambda r: r.pop("title"), "title", "required"),
    ],
)
def test_each_problem_names_its_field(record: dict, change, field: str, says: str) -> None:
    bad = copy.deepcopy(record)
    change(bad)
    problems = record_problems(bad)
    assert any(p.startswith(f"{field}") and says in p for p in problems), problems
    with pytest.raises(RecordError, match=field.split("+")[0]):
        validate_record(bad)
