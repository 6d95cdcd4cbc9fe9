"""Ownership marks in model weights (soundsafe.nnw): key, payload, insertion, reading, robustness, the CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from soundsafe.cli.main import main
from soundsafe.nnw import attacks
from soundsafe.nnw.evaluate import binomial_pmf, paired_difference
from soundsafe.nnw.key import PAYLOAD_BITS, NnwKey, false_positive_rate, pack_payload, unpack_payload
from soundsafe.nnw.weights import load_state
from soundsafe.nnw.whitebox import insert, projections, verify, verify_state

RELEASE = Path(__file__).resolve().parents[1] / "soundsafe" / "models" / "fingerprint" / "model.pt"
LAYER = "body.12.weight"  # the release encoder's largest convolution


def _key(i: int = 0, layer: str = "w", margin: float = 1.5) -> NnwKey:
    return NnwKey(f"{i:064x}", layer, margin)


def _weights(seed: int = 0, shape: tuple[int, ...] = (64, 32, 3, 3)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.05


def test_key_roundtrip_is_private_and_bad_keys_say_what_to_do(tmp_path: Path) -> None:
    key = NnwKey.generate("body.12.weight", margin=2.0)
    key.save(tmp_path / "k.key")
    assert NnwKey.load(tmp_path / "k.key") == key
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    with pytest.raises(FileNotFoundError, match="keygen"):
        NnwKey.load(tmp_path / "missing.key")
    (tmp_path / "bad.key").write_text("{not json")
    with pytest.raises(ValueError, match="not an NNW key file"):
        NnwKey.load(tmp_path / "bad.key")
    with pytest.raises(ValueError, match="64 lowercase hex"):
        NnwKey("abc", "w")
    with pytest.raises(ValueError, match="margin"):
        NnwKey("0" * 64, "w", margin=0)


def test_payload_packs_owner_model_and_tag() -> None:
    key = _key(7)
    bits = pack_payload(0xDEADBEEF, 20261207, key)
    assert bits.shape == (PAYLOAD_BITS,) and PAYLOAD_BITS >= 64
    owner, model, tag = unpack_payload(bits)
    assert (owner, model) == (0xDEADBEEF, 20261207)
    np.testing.assert_array_equal(tag, key.tag())
    assert not np.array_equal(key.tag(), _key(8).tag())
    with pytest.raises(ValueError, match="owner ID"):
        pack_payload(2**32, 0, key)
    assert false_positive_rate() == 529 / 2**32 < 1e-6


def test_mark_reads_back_and_changes_the_layer_little() -> None:
    w, key = _weights(), _key(1)
    marked = insert(w, key, pack_payload(12345, 678, key))
    result = verify(marked, key)
    assert result.found and (result.owner, result.model, result.tag_errors) == (12345, 678, 0)
    assert result.strength >= key.margin * 0.99
    assert np.linalg.norm(marked - w) / np.linalg.norm(w) < 0.15
    np.testing.assert_allclose(np.linalg.norm(marked.reshape(64, -1), axis=1),
                               np.linalg.norm(w.reshape(64, -1), axis=1), rtol=1e-5)  # channel norms kept


def test_unmarked_layers_read_as_fair_coins_and_are_not_found() -> None:
    """Over 100 keys on unmarked layers the projections are ~N(0, 1) and no tag reads within 2 errors."""
    w = _weights(3)
    p = np.concatenate([projections(w, _key(i)) for i in range(100)])
    assert abs(p.mean()) < 0.05 and 0.9 < p.std() < 1.1
    assert not any(verify(_weights(s), _key(1000 + s)).found for s in range(100))


def test_another_keys_mark_is_not_this_keys() -> None:
    w, mine, theirs = _weights(), _key(1), _key(2)
    marked = insert(w, theirs, pack_payload(1, 2, theirs))
    assert not verify(marked, mine).found and verify(marked, theirs).found


@pytest.mark.parametrize("attack", ["noise 0.1", "l1 0.5", "quant 8", "quant 4", "rescale"])
def test_mark_survives_weight_modifications(attack: str) -> None:
    """MPAI-NNW's modifications at the issue's strengths, plus BatchNorm folding (a positive factor per output
    channel, which ONNX export applies): 0 payload bit errors."""
    w, key = _weights(shape=(128, 64, 3, 3)), _key(4)
    payload = pack_payload(424242, 99, key)
    state = {"w": insert(w, key, payload)}
    rng = np.random.default_rng(0)
    kind, strength = attack.split() if " " in attack else (attack, "0")
    state = {"noise": lambda: attacks.gaussian_noise(state, float(strength), rng),
             "l1": lambda: attacks.l1_prune(state, float(strength)),
             "quant": lambda: attacks.fake_quant(state, int(strength)),
             "rescale": lambda: {"w": state["w"] * rng.uniform(0.3, 3.0, (128, 1, 1, 1)).astype(np.float32)},
             }[kind]()
    result = verify(state["w"], key)
    assert result.found and (result.owner, result.model, result.tag_errors) == (424242, 99, 0)


def test_attacks_do_what_they_say() -> None:
    state = {"w": _weights(), "bias": np.ones(64, np.float32)}
    pruned = attacks.l1_prune(state, 0.3)["w"]
    assert abs((pruned == 0).mean() - 0.3) < 0.01
    kept = pruned != 0
    assert np.abs(pruned[kept]).min() >= np.abs(state["w"][~kept]).max()
    assert abs((attacks.random_prune(state, 0.5, np.random.default_rng(0))["w"] == 0).mean() - 0.5) < 0.02
    quant = attacks.fake_quant(state, 4)["w"].reshape(64, -1)
    assert max(len(np.unique(row)) for row in quant) <= 15
    noisy = attacks.gaussian_noise(state, 0.1, np.random.default_rng(0))["w"]
    assert 0.09 < (noisy - state["w"]).std() / state["w"].std() < 0.11
    assert attacks.l1_prune(state, 0.9)["bias"] is state["bias"]  # 1-d tensors are left alone
    with pytest.raises(ValueError, match="bits"):
        attacks.fake_quant(state, 1)


def test_too_small_layers_and_bad_payloads_are_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        insert(_weights(shape=(8, 4)), _key(), pack_payload(0, 0, _key()))
    with pytest.raises(ValueError, match="96 bits"):
        insert(_weights(), _key(), np.zeros(10, np.uint8))


def test_renamed_layer_is_found_among_same_model_layers_at_a_corrected_p_value() -> None:
    key = _key(5, layer="body.4.weight")
    state = {f"body.{i}.weight": _weights(i) for i in range(6)}
    state["body.4.weight"] = insert(state["body.4.weight"], key, pack_payload(5, 6, key))
    renamed = {("onnx::Conv_17" if n == "body.4.weight" else n): w for n, w in state.items()}
    result, layer, tried = verify_state(renamed, key)
    assert (result.found, result.owner, layer, tried) == (True, 5, "onnx::Conv_17", 6)
    assert result.p_value == pytest.approx(6 / 2**32)
    del renamed["onnx::Conv_17"]
    assert not verify_state(renamed, key)[0].found


def test_cli_marks_a_checkpoint_and_reads_it_from_torch_and_onnx(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    key, marked = tmp_path / "owner.key", tmp_path / "marked.pt"
    assert main(["nnw", "layers", str(RELEASE)]) == 0
    assert LAYER in capsys.readouterr().out
    assert main(["nnw", "keygen", str(key), "--layer", LAYER]) == 0
    capsys.readouterr()
    assert main(["nnw", "keygen", str(key), "--layer", LAYER]) == 1
    assert "never overwritten" in capsys.readouterr().err
    assert main(["nnw", "mark", str(RELEASE), str(marked), "--key", str(key), "--owner", "0x2a",
                 "--model-id", "7"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["found"] and report["owner"] == 42 and report["relative_change"] < 0.15
    assert main(["nnw", "verify", str(marked), "--key", str(key)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == 7
    assert main(["nnw", "verify", str(RELEASE), "--key", str(key)]) == 1  # the unmarked release encoder
    assert not json.loads(capsys.readouterr().out)["found"]

    from soundsafe.fingerprint.export import export_encoder
    from soundsafe.fingerprint.model import load_encoder

    windows = np.random.default_rng(0).standard_normal((4, 16000)).astype(np.float32) * 0.1
    export_encoder(load_encoder(marked), tmp_path, windows, source=marked)
    onnx_state = load_state(tmp_path / "encoder.onnx")
    assert main(["nnw", "verify", str(tmp_path / "encoder.onnx"), "--key", str(key)]) == 0  # BatchNorm folded
    result = json.loads(capsys.readouterr().out)
    assert result["owner"] == 42 and result["tag_errors"] == 0 and result["layer"] in onnx_state
    int8 = load_state(tmp_path / "encoder.int8.onnx")  # static int8, per-channel weights
    assert int8[LAYER].dtype == np.float32 and len(np.unique(int8[LAYER][0])) <= 255
    assert main(["nnw", "verify", str(tmp_path / "encoder.int8.onnx"), "--key", str(key)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["owner"], result["tag_errors"], result["layer"]) == (42, 0, LAYER)


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k.key"
    _key(layer="no.such.layer").save(key)
    assert main(["nnw", "mark", str(RELEASE), str(tmp_path / "m.pt"), "--key", str(key), "--owner", "1",
                 "--model-id", "1"]) == 1
    err = capsys.readouterr().err
    assert "no layer 'no.such.layer'" in err and LAYER in err and not (tmp_path / "m.pt").exists()
    assert main(["nnw", "verify", str(tmp_path / "none.pt"), "--key", str(key)]) == 1
    assert "no model file" in capsys.readouterr().err
    assert main(["nnw", "verify", str(RELEASE), "--key", str(tmp_path / "none.key")]) == 1
    assert "keygen" in capsys.readouterr().err


def test_regulariser_alone_writes_the_mark_during_training() -> None:
    """Uchida-style embedding: a few hundred optimizer steps on the hinge alone, from a random init, make the
    layer carry the payload at the margin; the reader then finds it."""
    import torch

    from soundsafe.nnw.regularizer import mark_penalty

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 3))
    key = _key(9, layer="0.weight", margin=1.0)
    payload = pack_payload(31337, 4, key)
    penalty = mark_penalty(model, key, payload)
    assert not verify(model[0].weight.detach().numpy(), key).found
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(300):
        loss = penalty(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(penalty(model).detach()) == 0.0
    result = verify(model[0].weight.detach().numpy(), key)
    assert result.found and (result.owner, result.model) == (31337, 4) and result.strength >= 1.0
    with pytest.raises(KeyError, match="no parameter"):
        mark_penalty(model, _key(layer="nope"), payload)


def test_paired_difference_and_the_binomial_reference() -> None:
    a, b = np.array([1, 1, 0, 1] * 50), np.array([1, 0, 0, 1] * 50)
    delta, half = paired_difference(a, b)
    assert delta == pytest.approx(0.25) and 0.05 < half < 0.07
    assert paired_difference(a, a) == (0.0, 0.0)
    pmf = binomial_pmf()
    assert pmf.sum() == pytest.approx(1.0) and pmf[:3].sum() == pytest.approx(529 / 2**32)


def _tiny_encoder(seed: int = 0) -> Any:
    import torch

    from soundsafe.fingerprint.config import FingerprintConfig
    from soundsafe.fingerprint.model import build_encoder

    torch.manual_seed(seed)
    return build_encoder(FingerprintConfig(window_seconds=0.5, channels=(8, 16), dim=128)).eval()


def test_trigger_set_is_keyed_and_unmarked_models_read_fair_coins() -> None:
    import torch

    from soundsafe.nnw import blackbox

    a, b = blackbox.triggers(_key(1), 8000, 16000), blackbox.triggers(_key(2), 8000, 16000)
    assert a.shape == (PAYLOAD_BITS, 8000) and np.array_equal(a, blackbox.triggers(_key(1), 8000, 16000))
    assert not np.allclose(a, b) and np.allclose(np.sqrt((a**2).mean(axis=1)), 0.1, rtol=0.01)
    encoder = _tiny_encoder()

    def embed(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return encoder(torch.from_numpy(x)).numpy()

    z = np.concatenate([blackbox.projections(embed, _key(i), 8000, 16000) for i in range(10)])
    assert abs(z.mean()) < 0.1 and 0.8 < z.std() < 1.2
    assert not any(blackbox.verify(embed, _key(100 + i), 8000, 16000).found for i in range(10))


def test_trigger_penalty_writes_a_mark_read_through_the_outputs_only() -> None:
    import torch

    from soundsafe.nnw import blackbox

    encoder, key = _tiny_encoder(1), _key(3, margin=1.5)
    payload = pack_payload(2026, 12, key)
    penalty = blackbox.trigger_penalty(key, payload, 8000, 16000, 128)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-2)
    encoder.train()
    for _ in range(60):
        loss = penalty(encoder)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    encoder.eval()
    assert encoder.training is False

    def embed(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return encoder(torch.from_numpy(x)).numpy()

    result = blackbox.verify(embed, key, 8000, 16000)
    assert result.found and (result.owner, result.model, result.tag_errors) == (2026, 12, 0)
    assert not blackbox.verify(embed, _key(4), 8000, 16000).found


def test_pipeline_key_is_the_env_file_or_a_labelled_demo_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from soundsafe.nnw.key import KEY_ENV, pipeline_key

    monkeypatch.delenv(KEY_ENV, raising=False)
    demo, source = pipeline_key("body.12.weight", 1.5, seed=3)
    assert source == "demo" and demo == pipeline_key("body.12.weight", 1.5, seed=3)[0]
    assert demo != pipeline_key("body.12.weight", 1.5, seed=4)[0]
    mine = NnwKey.generate("head.weight", 2.0)
    mine.save(tmp_path / "owner.key")
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "owner.key"))
    assert pipeline_key("body.12.weight", 1.5, seed=3) == (mine, "env")


def test_step_params_are_checked() -> None:
    from soundsafe.nnw.evaluate import EvalSpec
    from soundsafe.nnw.step import MarkSpec

    with pytest.raises(ValueError, match="finetune_steps > 0"):
        MarkSpec.from_params({"blackbox": True, "finetune_steps": 0})
    assert MarkSpec.from_params({"blackbox": False, "finetune_steps": 0}).finetune_steps == 0
    with pytest.raises(ValueError, match="unknown keys"):
        MarkSpec.from_params({"layr": "x"})
    with pytest.raises(ValueError, match="unknown keys"):
        EvalSpec.from_params({"querys": 3})
