"""The command line: helpful --help, clear errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsafe.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv", [[], ["step"], ["pipeline"], ["pipeline", "run"], ["pipeline", "dvc", "render"],
                                  ["ingest"], ["validate"]])
def test_help_describes_every_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "usage: soundsafe" in out and len(out.splitlines()) > 4


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["pipeline", "run", "--profile", "huge"])
    assert done.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_errors_say_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["step", "trian"]) == 1
    assert "unknown step 'trian'; known steps: corpus, validate" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "none.parquet")]) == 1
    assert "manifest not found" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path / "nowhere")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_dvc_yaml_check_passes_in_the_project(monkeypatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["pipeline", "dvc", "render", "--check"]) == 0
    assert "matches" in capsys.readouterr().out


def test_every_json_flag_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    """Each command that offers --json prints one parseable document (one serializer per result type)."""
    import json

    import numpy as np
    import soundfile as sf

    monkeypatch.chdir(tmp_path)
    meta = str(ROOT / "tests/data/sample_meta.json")
    sf.write("noise.wav", np.random.default_rng(0).standard_normal((2 * 44100, 1)).astype(np.float32) * 0.1, 44100)
    runs = {
        ("payload", "inspect", meta, "--json"): lambda out: out["serialized_bytes"] > 0,
        ("payload", "simulate", meta, "--json", "--trials", "1", "--ber", "0.01", "--loss", "0"):
            lambda out: isinstance(out, list | dict),
        ("attack", "list", "--json"): lambda out: any(a["name"] == "mp3" for a in out),
        ("detect", "noise.wav", "--json", "--model", "carrier", "-q"):
            lambda out: out["complete"] is False and out["fields"] == {} and out["model"]["source"] == "carrier",
        ("verify", "noise.wav", "--isrc", "USRC17607839", "--json", "--model", "carrier", "-q"):
            lambda out: out["verified"] is False and out["missing"] == ["isrc"],
    }
    for argv, check in runs.items():
        main(list(argv))
        out = json.loads(capsys.readouterr().out)
        assert check(out), (argv, out)
