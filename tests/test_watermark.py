"""The watermark model: config, carrier, gradients, embed/detect end to end (with real MP3), training phases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from soundsafe.attacks import apply_attack, apply_training_attack
from soundsafe.audio.io import read_audio
from soundsafe.manifest import MANIFEST_NAME, audio_path, read_manifest
from soundsafe.payload.keys import DEMO_KEY, PayloadKey
from soundsafe.payload.packets import CodeSettings, encode_payload
from soundsafe.watermark.api import detect, embed
from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.model import build_model
from soundsafe.watermark.train import PhaseSpec, train_phase

SR = 44100


@pytest.fixture(scope="module")
def demo_audio(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """24 s of rendered demo music: two 12 s demo-corpus tracks back to back."""
    from soundsafe.corpus.build import build_demo_corpus

    out = tmp_path_factory.mktemp("long") / "corpus"
    build_demo_corpus(out, tracks=2, seconds=12.0, sample_rate=SR, seed=11, splits={"train": 1.0}, workers=1)
    manifest = out / MANIFEST_NAME
    return np.concatenate([read_audio(audio_path(manifest, p))[0] for p in read_manifest(manifest)["path"]])


@pytest.fixture(scope="module")
def carrier_model():
    """The untrained model (the plain informed carrier): tests must not depend on what a pipeline trained."""
    return build_model().eval()


def test_config_checks_and_round_trips() -> None:
    config = ModelConfig()
    assert config.bits_per_second == 64 and config.frames == 100 and config.tiles >= 4 * config.bits
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="multiple of 8"):
        ModelConfig(bits=12)
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({"bitz": 64})
    with pytest.raises(ValueError, match="tiles"):
        ModelConfig(low_hz=8000.0, high_hz=8500.0)


def test_untrained_model_is_the_plain_carrier_and_reads_its_bits(demo_audio: np.ndarray) -> None:
    model = build_model().eval()
    chunks = torch.from_numpy(demo_audio[: 8 * SR].mean(axis=1).reshape(8, SR).astype(np.float32))
    carrier = model.carrier(5)
    with torch.no_grad():
        shaping = model.shaping(carrier, chunks)
        torch.testing.assert_close(shaping, torch.ones_like(shaping))
        bits = torch.randint(0, 2, (8, 64), generator=torch.Generator().manual_seed(0)).float()
        marked = model.embed(chunks, bits, seed=5)
        assert ((model.llr(marked, 5) > 0).float() == bits).float().mean() > 0.97
        assert ((model.llr(marked, 6) > 0).float() == bits).float().mean() < 0.7, "another key reads noise"
        assert ((model.llr(chunks, 5) > 0).float() == bits).float().mean() < 0.7, "unmarked audio reads noise"
        snr = 10 * torch.log10(chunks.pow(2).sum() / (marked - chunks).pow(2).sum())
    assert snr > 20  # a sanity bound on this clip; the SNR target is a benchmark figure (benchmarks/watermark.py)


def test_gradients_reach_both_networks_through_an_attack(demo_audio: np.ndarray) -> None:
    model = build_model()
    chunks = torch.from_numpy(demo_audio[: 2 * SR].mean(axis=1).reshape(2, SR).astype(np.float32))
    bits = torch.randint(0, 2, (2, 64), generator=torch.Generator().manual_seed(1)).float()
    marked = model.embed(chunks, bits, seed=3)
    attacked = apply_training_attack("mp3", marked[:, None], SR, "128k")[:, 0]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model.llr(attacked, 3), bits)
    loss.backward()
    for name in ("shaper", "reliability"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0, name


def test_embed_then_mp3_then_detect_reads_the_isrc(demo_audio: np.ndarray, demo_record: dict,
                                                    carrier_model) -> None:
    key = PayloadKey(b"k" * 32)
    marked = embed(demo_audio, SR, demo_record, key, carrier_model)
    assert marked.shape == demo_audio.shape and marked.dtype == np.float32
    clean = detect(marked, SR, key, carrier_model).result
    assert clean.fields["isrc"] == encode_payload(demo_record, key, CodeSettings()).record["isrc"]
    attacked = apply_attack("mp3", marked, SR, "128k")
    found = detect(attacked, SR, key, carrier_model).result
    assert found.fields.get("isrc") == clean.fields["isrc"]
    assert detect(marked, SR, DEMO_KEY, carrier_model).result.fields == {}, "the wrong key reads nothing"
    assert detect(demo_audio, SR, key, carrier_model).result.fields == {}, "unmarked audio reads nothing"


def test_embed_keeps_shape_rate_and_channels(demo_audio: np.ndarray, demo_record: dict, carrier_model) -> None:
    from soundsafe.audio.io import resample

    mono48 = resample(demo_audio, SR, 48000).mean(axis=1)
    marked = embed(mono48, 48000, demo_record, model=carrier_model)
    assert marked.shape == mono48.shape
    assert detect(marked, 48000, model=carrier_model).result.fields.get("isrc")
    short = embed(demo_audio[: SR // 2], SR, demo_record, model=carrier_model)  # under a chunk: left unmarked
    np.testing.assert_array_equal(short, demo_audio[: SR // 2])
    assert detect(short, SR, model=carrier_model).result.fields == {}


def test_a_phase_trains_checkpoints_and_resumes(tiny_corpus_dir: Path, tmp_path: Path) -> None:
    manifest = tiny_corpus_dir / MANIFEST_NAME
    spec = PhaseSpec(name="core", steps=4, batch=2, val_every=2, val_windows=2, core_only=True,
                     pool={"white_noise": 1.0, "mp3": 1.0})
    out, resume = tmp_path / "core", tmp_path / "resume"

    class Crash(RuntimeError):
        pass

    def crash_after_first_validation(metrics: dict, step: int) -> None:
        if "val_snr_db" in metrics:
            raise Crash

    with pytest.raises(Crash):
        train_phase(spec, ModelConfig(), manifest, out, resume_dir=resume, log=crash_after_first_validation)
    saved = torch.load(resume / "checkpoint.pt", weights_only=False)
    assert saved["train_state"]["step"] == 2
    metrics = train_phase(spec, ModelConfig(), manifest, out, resume_dir=resume)
    assert metrics["steps"] == 4 and metrics["parameters"] > 0
    assert 0.5 <= metrics["val_bit_acc_clean"] <= 1.0 and metrics["val_snr_db"] > 20
    # the starting model (here the untrained carrier) was validated before training, survived the crash in the
    # checkpoint, and the phase keeps it unless training beats it under the validation attacks
    assert 0.5 <= metrics["start_val_bit_acc_robust"] <= 1.0
    assert round(metrics["val_bit_acc_robust"], 4) >= round(metrics["start_val_bit_acc_robust"], 4)
    assert (out / "model.pt").is_file() and not (resume / "checkpoint.pt").exists()
    following = PhaseSpec(name="variable", steps=2, batch=2, val_every=2, val_windows=2, pool={"gain": 1.0})
    assert train_phase(following, ModelConfig(), manifest, tmp_path / "variable", init_from=out / "model.pt")
    with pytest.raises(ValueError, match="config differs"):
        train_phase(following, ModelConfig(margin_db=0.9), manifest, tmp_path / "other", init_from=out / "model.pt")


def test_phase_spec_rejects_unknown_parameters() -> None:
    with pytest.raises(ValueError, match="unknown parameters"):
        PhaseSpec.from_params("core", {"steps": 3, "stepz": 4})


def test_cli_embed_detect(demo_audio: np.ndarray, demo_record: dict, tmp_path: Path) -> None:
    import soundfile as sf

    from soundsafe.cli.main import main

    src, out, meta = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "meta.json"
    sf.write(src, demo_audio, SR)
    meta.write_text(json.dumps(demo_record))
    assert main(["embed", str(src), str(out), "--metadata", str(meta)]) == 0
    assert main(["detect", str(out)]) == 3  # 24 s is less than a cycle: the core (ISRC, ISWC) only
    assert main(["detect", str(src)]) == 1
    meta.write_text("{not json")
    assert main(["embed", str(src), str(out), "--metadata", str(meta)]) == 1


def test_data_parallel_training_under_torchrun(tiny_corpus_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(f"""
import json, os
from pathlib import Path
from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.train import PhaseSpec, train_phase
spec = PhaseSpec(name="core", steps=2, batch=2, val_every=2, val_windows=2, pool={{"gain": 1.0}})
manifest = Path({str(tiny_corpus_dir / MANIFEST_NAME)!r})
metrics = train_phase(spec, ModelConfig(), manifest, Path({str(tmp_path)!r}) / "out")
Path({str(tmp_path)!r}, "metrics_" + os.environ["RANK"] + ".json").write_text(json.dumps(metrics))
""")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    reports = [json.loads((tmp_path / f"metrics_{rank}.json").read_text()) for rank in (0, 1)]
    assert len(reports) == 2 and all(r["ranks"] == 2 for r in reports)
    assert reports[0]["val_bit_acc_clean"] == reports[1]["val_bit_acc_clean"], "ranks hold the same weights"
    assert (tmp_path / "out" / "model.pt").is_file()


def test_training_effect_benchmark_sets_models_against_the_carrier_curve(tiny_corpus_dir: Path, tmp_path: Path,
                                                                          carrier_model) -> None:
    import importlib.util

    from soundsafe.watermark.checkpoint import save_checkpoint

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "training_effect.py"
    spec = importlib.util.spec_from_file_location("training_effect", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    save_checkpoint(tmp_path / "m.pt", carrier_model)
    out = tmp_path / "bench"
    assert bench.main(["--manifest", str(tiny_corpus_dir / MANIFEST_NAME), "--margins", "0.5,2", "--windows", "2",
                       "--models", str(tmp_path / "m.pt"), "--out", str(out)]) == 0
    result = json.loads((out / "training_effect.json").read_text())
    quiet, loud = result["carrier"]
    assert loud["val_snr_db"] < quiet["val_snr_db"] - 6  # 4× the margin: ~12 dB louder
    model = result["models"][str(tmp_path / "m.pt")]
    assert model["margin_db"] == carrier_model.config.margin_db and 0.0 <= model["val_bit_acc_robust"] <= 1.0
    assert (out / "training_effect.png").stat().st_size > 1000
    # the carrier's figure at a model's SNR is read off the curve, NaN outside it
    assert bench.carrier_at(result["carrier"], loud["val_snr_db"], "robust") == loud["val_bit_acc_robust"]
    assert math.isnan(bench.carrier_at(result["carrier"], loud["val_snr_db"] - 1, "robust"))
