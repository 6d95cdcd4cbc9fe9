"""`soundsafe payload …` end to end through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "soundsafe", "payload", *args], input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_import_encode_decode_round_trip(tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    imported = _run("import", "--ddex", str(DATA / "sample_release_ern43.xml"), "--cwr", str(DATA / "sample_work.cwr"),
                    "--out", str(meta))
    assert imported.returncode == 0, imported.stderr
    key = tmp_path / "secret.key"
    assert _run("keygen", str(key)).returncode == 0
    packets = tmp_path / "packets.json"
    assert _run("encode", str(meta), "--key-file", str(key), "--out", str(packets)).returncode == 0
    decoded = _run("decode", str(packets), "--key-file", str(key))
    assert decoded.returncode == 0, decoded.stderr
    assert json.loads(decoded.stdout)["fields"] == json.loads(meta.read_text())
    wrong = _run("decode", str(packets))  # the demo key: nothing readable
    assert wrong.returncode == 1 and json.loads(wrong.stdout)["fields"] == {}


def test_partial_read_exits_3(tmp_path: Path) -> None:
    meta = DATA / "sample_meta.json"
    packets = json.loads(_run("encode", str(meta), "--chunks", "8").stdout)
    partial = _run("decode", "-", stdin=json.dumps(packets))
    assert partial.returncode == 3
    assert set(json.loads(partial.stdout)["fields"]) == {"isrc"}  # the core layer; the ISWC is in the data


def test_inspect_reports_sizes_and_seconds() -> None:
    out = _run("inspect", str(DATA / "sample_meta.json"), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["serialized_bytes"] == sum(report["field_bytes"].values()) + 1
    assert report["seconds_to_isrc"] == 3 and report["seconds_to_full_payload"] == report["layout"]["cycle_chunks"]
    assert report["false_accept_per_read"] < 1e-6


def test_invalid_metadata_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    record = json.loads((DATA / "sample_meta.json").read_text())
    record["isrc"] = "XX"
    record["publishers"][0]["share"] = 10
    bad.write_text(json.dumps(record))
    out = _run("encode", str(bad))
    assert out.returncode == 1
    assert "isrc: ISRC 'XX' is malformed" in out.stderr and "add up to" in out.stderr
    assert _run("encode", str(tmp_path / "missing.json")).returncode == 1


def test_simulate_prints_a_table() -> None:
    out = _run("simulate", str(DATA / "sample_meta.json"), "--ber", "0.02", "--loss", "0.1", "--trials", "2")
    assert out.returncode == 0, out.stderr
    assert "standard" in out.stdout and "100%" in out.stdout
