"""Issue 18: the real-music corpus source, its splits, the real attack set, audiowmark's adapter and the
side-by-side excerpt table. No test reads a Debian package: the package listing is replaced by files made here
(and the reserved packages are only ever refused)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from soundsafe.attacks import apply_attack
from soundsafe.attacks.registry import get_attack
from soundsafe.audio.io import write_wav
from soundsafe.baselines.echo import ECHO
from soundsafe.baselines.external import ExternalTool
from soundsafe.corpus import debian
from soundsafe.evaluation.attack_sets import resolve_set
from soundsafe.evaluation.harness import AttackPoint, Clip, compact_record, parse_points, run_evaluation
from soundsafe.evaluation.run import EvaluationSettings, external_tool, missing_external
from soundsafe.evaluation.summary import excerpt_markdown, excerpt_table, recovery_table
from soundsafe.evaluation.systems import EchoSystem, ExternalSystem
from soundsafe.manifest import hash_splits, read_manifest
from soundsafe.payload.record import validate_record

SR = 44100


def _tone(seconds: float, freq: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.2 * np.sin(2 * np.pi * freq * t) + 0.02 * np.random.default_rng(int(freq)).standard_normal(t.size)
    return np.stack([x, x], axis=1).astype(np.float32)


def test_hash_splits_are_stable_when_tracks_are_added() -> None:
    fractions = {"train": 0.75, "val": 0.1, "test": 0.15}
    names = [f"pkg/track{i:03d}.ogg" for i in range(400)]
    first = hash_splits(names[:300], fractions)
    more = hash_splits(names, fractions)
    assert all(more[n] == first[n] for n in names[:300])  # a package update moves no track
    share = pd.Series(more).value_counts(normalize=True)
    assert abs(share["test"] - 0.15) < 0.06 and abs(share["val"] - 0.1) < 0.05
    with pytest.raises(ValueError, match="positive"):
        hash_splits(names, {"train": 0.0})


def test_reserved_packages_are_refused() -> None:
    for package in ("hyperrogue-music", "wesnoth-music", "wesnoth-1.16-music"):
        with pytest.raises(debian.RealMusicError, match="reserved for independent evaluation"):
            debian.missing_packages([package])
        with pytest.raises(debian.RealMusicError, match="reserved"):
            debian.package_tracks(package)


def test_debian_source_ingests_every_track_with_valid_records(tmp_path: Path, monkeypatch) -> None:
    files = {"ufoai-music": [], "nexuiz-music": []}
    for i, (package, rate) in enumerate([("ufoai-music", 48000), ("ufoai-music", 44100), ("nexuiz-music", 22050)]):
        path = tmp_path / "pkg" / f"{package}-{i}.wav"
        path.parent.mkdir(exist_ok=True)
        write_wav(path, _tone(3.0, 300 + 100 * i, rate), rate)
        files[package].append(debian.PackageTrack(package, str(path)))
    bad = tmp_path / "pkg" / "broken.ogg"
    bad.write_bytes(b"not audio")
    files["nexuiz-music"].append(debian.PackageTrack("nexuiz-music", str(bad)))
    monkeypatch.setattr(debian, "package_tracks", lambda package: files[package])
    out = tmp_path / "corpus"
    df = debian.build_debian_corpus(out, ["ufoai-music", "nexuiz-music"], SR, {"train": 0.5, "test": 0.5}, 7,
                                    excerpt_seconds=2.0)
    assert len(df) == 3 and set(df["split"]) <= {"train", "test"}
    manifest = read_manifest(out / "manifest.parquet")
    assert (manifest["sample_rate"] == SR).all() and np.allclose(manifest["duration_s"], 2.0)
    for meta in manifest["metadata"]:
        record = json.loads(meta)
        validate_record(record)  # generated, valid rights records
        assert record["isrc"].startswith("QZSSR")
    rejected = pd.read_csv(out / "rejected.csv")
    assert list(rejected["file"]) == ["nexuiz-music/broken.ogg"]  # listed, never dropped silently
    assert set(pd.read_csv(out / "sources.csv")["package"]) == {"ufoai-music", "nexuiz-music"}


def test_real_attack_set_has_issue_18s_points() -> None:
    labels = {p.label for p in parse_points(resolve_set("real"))}
    for needed in ("clean", "mp3 128k", "mp3 64k", "aac 128k", "opus 64k", "resample 22.05kHz",
                   "white_noise 20dB", "lowpass 5kHz", "gain -6dB", "speed +2%", "speed -2%",
                   "time_stretch +2%", "time_stretch -2%", "pitch_shift +50c", "pitch_shift -50c",
                   "reverb club", "eq ±6dB", "compressor medium", "limiter -3dB", "mp3_noise 128k+30dB"):
        assert needed in labels
    x = _tone(2.0, 440)
    y = apply_attack("speed", x, SR, "+2%", seed=0)
    assert abs(y.shape[0] - x.shape[0] / 1.02) <= 2
    steps = get_attack("mp3_noise").strength("128k+30dB").params["steps"]
    assert [s[0] for s in steps] == ["mp3", "white_noise"]
    np.testing.assert_array_equal(apply_attack("mp3_noise", x, SR, "128k+30dB", seed=3),
                                  apply_attack("mp3_noise", x, SR, "128k+30dB", seed=3))


def _fake_tool(**changes) -> ExternalTool:
    python = sys.executable
    base = dict(name="echo-cli",
                embed=f"{python} -m soundsafe.baselines embed {{input}} {{output}} --payload {{payload}}",
                detect=f"{python} -m soundsafe.baselines detect {{input}} --bits {{bits}}",
                payload_regex=r"payload (?P<payload>[0-9a-f]+) z=(?P<score>[0-9.]+)", payload_bits=16,
                bits_per_second=10)
    return ExternalTool(**{**base, **changes})


def test_external_tool_scores_lookup_and_speed_search() -> None:
    x = _tone(4.0, 220)
    system = ExternalSystem(_fake_tool())
    embedded = system.embed(x, SR, {}, seed=5)
    reading = system.read(embedded.audio, SR)
    assert reading.detected and system.identified(embedded, reading, {}) == (True, None)
    strict = ExternalSystem(_fake_tool(min_score=1e9))  # reported, but under the tool's own threshold
    reading = strict.read(embedded.audio, SR)
    assert not reading.detected and reading.messages  # a candidate: still looked up, never a detection
    assert strict.identified(embedded, reading, {})[0]
    other = system.embed(x, SR, {}, seed=6)  # another clip's message is not this clip's
    assert not system.identified(other, system.read(embedded.audio, SR), {})[0]
    fixed = f"{sys.executable} -c \"print('payload beef z=9.0')\" {{input}}"
    speedy = _fake_tool(detect_speed=fixed)
    assert [r.score for r in speedy.reports(x, SR, speed_search=True)] == [9.0]
    assert "no-such-aw" in external_tool({"name": "audiowmark", "bin": "/opt/no-such-aw"}).detect_speed
    assert missing_external(EvaluationSettings(external=[{"name": "audiowmark", "bin": "/opt/no-such-aw"}])) \
        == ["audiowmark"]


def test_excerpt_table_puts_systems_side_by_side_and_marks_missing_tools() -> None:
    clips = [Clip(f"c{i}", _tone(4.0, 200 + 50 * i), SR, {"isrc": f"QZSSR2600{i:03d}"}) for i in range(2)]
    systems = [ExternalSystem(_fake_tool()), EchoSystem(ECHO, "echo_hiding")]
    points = [AttackPoint(None), AttackPoint("white_noise", "10dB")]
    tables = run_evaluation(clips, systems, points, [AttackPoint(None)], points, [1.0, 4.0], 2, with_pesq=False)
    rec = recovery_table(tables)
    assert set(rec["system"]) == {"echo-cli"}  # echo hiding names no clip
    whole = rec[(rec.seconds == 4.0) & (rec.point == "clean")]
    assert whole["tries"].item() == 2 and whole["isrc_rate"].item() == 1.0  # the whole clip: its robustness read
    table = excerpt_table(tables, missing=["audiowmark"])
    assert list(table["attack"])[:2] == ["clean", "white_noise 10dB"]
    assert table.iloc[0]["echo-cli: message from 1 / 4 s, %"].endswith("/ 100")
    assert (table["audiowmark"] == "not installed").all()
    assert "false reads" in table.iloc[-1]["attack"] and table.iloc[-1]["echo-cli: bits, %"].endswith("of 2")
    assert "| clean |" in excerpt_markdown(table)


def test_compact_record_is_issue_19s_whole_record() -> None:
    record = compact_record({"isrc": "QZSSR2600001", "title": "Short", "display_artist": "Band", "upc": "1"})
    assert record == {"isrc": "QZSSR2600001", "title": "Short" + "." * 27, "display_artist": "Band"}
    assert len(compact_record({"isrc": "X", "title": "T" * 99})["title"]) == 32
