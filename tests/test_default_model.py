"""Which model a command uses: --model, $SOUNDSAFE_MODEL, the pipeline's, the shipped release; never silently
the untrained carrier. And `verify`'s verdicts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from soundsafe.watermark import default_model
from soundsafe.watermark.default_model import CARRIER, RELEASE_DIR, ModelNotFoundError, choose_model

SR = 44100


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without pipeline models, and no release model either."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOUNDSAFE_MODEL", raising=False)
    monkeypatch.setattr(default_model, "RELEASE_DIR", tmp_path / "no-release")
    return tmp_path


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """10 s of rendered demo music."""
    from soundsafe.audio.io import read_audio
    from soundsafe.corpus.build import build_demo_corpus

    out = tmp_path_factory.mktemp("music") / "corpus"
    build_demo_corpus(out, tracks=1, seconds=10.0, sample_rate=SR, seed=5, splits={"train": 1.0}, workers=1)
    return read_audio(next((out / "audio").glob("*.wav")))[0]


def _pipeline_model(root: Path) -> Path:
    from soundsafe.watermark.checkpoint import save_checkpoint
    from soundsafe.watermark.model import build_model

    path = root / "models/watermark/realtime/model.pt"
    path.parent.mkdir(parents=True)
    save_checkpoint(path, build_model())
    return path


def test_the_release_model_ships_with_a_card() -> None:
    card = json.loads((RELEASE_DIR / "card.json").read_text())
    assert card["id"].startswith("soundsafe-wm-") and card["data"]["packages"] and card["phases"]["realtime"]
    assert card["phases"]["realtime"]["steps"] > 0 and 0.9 < card["export"]["onnx_fp32.bit_acc.clean"] <= 1.0
    choice = choose_model(root=RELEASE_DIR)  # no pipeline model under the package folder
    assert choice.source == "release" and choice.card_id == card["id"] and choice.onnx and choice.torch


def test_no_model_is_an_error_not_the_carrier(nowhere: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no watermark model found.*--model carrier"):
        choose_model()
    assert choose_model(CARRIER).is_carrier
    with pytest.raises(ModelNotFoundError, match="no watermark model here"):
        choose_model("missing.pt")


def test_pipeline_model_then_env_then_argument(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch_path = _pipeline_model(nowhere)
    choice = choose_model()
    assert choice.source == "pipeline" and choice.torch == Path("models/watermark/realtime/model.pt")
    assert choice.onnx is None  # no export yet
    other = nowhere / "other.pt"
    shutil.copy(torch_path, other)
    monkeypatch.setenv("SOUNDSAFE_MODEL", str(other))
    assert choose_model().source == "$SOUNDSAFE_MODEL" and choose_model().torch == other
    assert choose_model(str(torch_path)).source == "--model"


def test_pipeline_export_is_used_only_when_current(nowhere: Path) -> None:
    from soundsafe.watermark.checkpoint import load_model
    from soundsafe.watermark.export import export_onnx

    torch_path = _pipeline_model(nowhere)
    model, origin = load_model(torch_path)
    export_onnx(model, nowhere / "models/onnx", source=origin)
    assert choose_model().onnx == Path("models/onnx")  # the checkpoint it came from is the current one
    torch_path.write_bytes(torch_path.read_bytes() + b"retrained")  # a new checkpoint, export not re-run
    choice = choose_model()
    assert choice.onnx is None and choice.torch == Path("models/watermark/realtime/model.pt")


def test_cli_names_the_model_and_fails_without_one(nowhere: Path, demo_record: dict,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    from soundsafe.cli.main import main

    audio = np.random.default_rng(0).standard_normal((3 * SR, 1)).astype(np.float32) * 0.1
    sf.write(nowhere / "in.wav", audio, SR)
    (nowhere / "meta.json").write_text(json.dumps(demo_record))
    assert main(["embed", "in.wav", "out.wav", "--metadata", "meta.json"]) == 1
    assert "no watermark model found" in capsys.readouterr().err and not (nowhere / "out.wav").exists()
    assert main(["embed", "in.wav", "out.wav", "--metadata", "meta.json", "--model", CARRIER]) == 0
    captured = capsys.readouterr()
    assert "soundsafe embed: model the untrained informed carrier" in captured.err
    assert json.loads(captured.out)["model"]["source"] == CARRIER
    assert main(["detect", "out.wav", "--model", CARRIER, "--quiet"]) in (1, 3)
    assert "model" not in capsys.readouterr().err


def test_verify_exit_codes_and_messages(tmp_path: Path, demo_record: dict, music: np.ndarray,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    from soundsafe.cli.main import main
    from soundsafe.watermark.api import embed

    monkeypatch.chdir(tmp_path)
    sf.write("marked.wav", embed(music, SR, demo_record, model=CARRIER), SR)
    sf.write("plain.wav", music, SR)
    assert main(["verify", "marked.wav", "--isrc", "US-RC1-76-07839", "--model", CARRIER, "-q"]) == 0
    assert "verified: isrc USRC17607839" in capsys.readouterr().out
    assert main(["verify", "marked.wav", "--isrc", "GBAYE0000001", "--model", CARRIER, "-q"]) == 1
    assert "MISMATCH: isrc read USRC17607839 but expected GBAYE0000001" in capsys.readouterr().out
    assert main(["verify", "plain.wav", "--isrc", "USRC17607839", "--model", CARRIER, "-q"]) == 1
    assert "NOT VERIFIED: isrc not read from plain.wav (no watermark read at all)" in capsys.readouterr().out
    # the ISWC travels in the data layer: a file that holds the (short) record's data cycle verifies it
    short = {**demo_record, "title": "Dawn", "display_artist": "HL"}
    short = {k: short[k] for k in ("isrc", "iswc", "title", "display_artist")}
    (tmp_path / "meta.json").write_text(json.dumps(short))
    sf.write("long.wav", embed(np.concatenate([music] * 3), SR, short, model=CARRIER), SR)
    assert main(["verify", "marked.wav", "--metadata", "meta.json", "--model", CARRIER, "-q"]) == 1
    assert "NOT VERIFIED: iswc not read from marked.wav (read instead: isrc)" in capsys.readouterr().out
    assert main(["verify", "long.wav", "--metadata", "meta.json", "--model", CARRIER, "-q", "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verified"] and verdict["read"] == {"isrc": "USRC17607839", "iswc": "T-034524680-1"}
    assert main(["verify", "marked.wav", "--isrc", "not-an-isrc", "--model", CARRIER, "-q"]) == 1
    assert "malformed" in capsys.readouterr().err
