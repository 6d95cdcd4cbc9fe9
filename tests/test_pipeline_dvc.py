"""The real pipeline on the ci profile through DVC, with MLflow parent/child runs, in a throwaway clone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checkout import copy_checkout

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "SOUNDSAFE_PARENT_RUN_ID")}
    env.update(GIT_ENV)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding the project's tracked files (what a fresh clone has)."""
    dest = copy_checkout(tmp_path_factory.mktemp("clone") / "soundsafe")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        assert _run(cmd, dest).returncode == 0
    return dest


def _pipeline(project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "soundsafe", "pipeline", "run", *extra], project)


def test_ci_pipeline_runs_caches_and_reruns_only_what_changed(project: Path) -> None:
    first = _pipeline(project, "--profile", "ci")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Running stage 'corpus'" in first.stdout and "Running stage 'validate'" in first.stdout
    corpus = json.loads((project / "reports/corpus/metrics.json").read_text())
    assert corpus["tracks"] == 8 and corpus["tracks_test"] >= 1
    assert json.loads((project / "reports/validate/metrics.json").read_text())["expectations_failed"] == 0
    assert (project / "data/validated/manifest.parquet").is_file()
    phases = ["core", "variable", "hierarchical", "loss_finetune", "realtime"]
    for phase in phases:
        assert f"Running stage '{phase}'" in first.stdout
        trained = json.loads((project / f"reports/watermark/{phase}/metrics.json").read_text())
        assert trained["steps"] >= 1 and 0.5 <= trained["val_bit_acc_clean"] <= 1.0
        assert 0.5 <= trained["start_val_bit_acc_robust"] <= 1.0  # the starting model, validated first
    assert (project / "models/watermark/realtime/model.pt").is_file()
    assert "Running stage 'evaluate'" in first.stdout
    assert "| soundsafe |" in first.stdout and "| echo_hiding |" in first.stdout  # the summary table
    evaluated = json.loads((project / "reports/evaluate/metrics.json").read_text())
    assert 0.0 <= evaluated["soundsafe.bit_acc.clean"] <= 1.0 and evaluated["soundsafe.snr_db"] > 15
    assert evaluated["train.core.steps_to_target"] >= -1 and evaluated["projection.full_usd"] > 0
    assert "| untrained carrier |" in first.stdout  # what training changed, phase by phase
    assert 0.5 <= evaluated["train.untrained.val_bit_acc_robust"] <= 1.0
    assert 0.5 <= evaluated["train.realtime.val_bit_acc_noise_20db"] <= 1.0
    assert (project / "reports/evaluate/report.html").stat().st_size > 10_000
    exported = json.loads((project / "reports/export/metrics.json").read_text())
    assert exported["onnx_fp32.read_agreement"] >= 0.999 and exported["onnx_fp32.max_abs_diff"] < 1e-4
    assert exported["onnx_int8.embed_rtf"] > 0 and exported["stream.block_cpu_ms_median"] > 0
    assert exported["onnx_fp32_graph.read_agreement"] >= 0.999 and exported["onnx_fp32_graph.max_abs_diff"] < 1e-4
    assert (project / "models/onnx/detector.int8.onnx").is_file()
    fingerprint = json.loads((project / "reports/fingerprint/metrics.json").read_text())
    assert 0.0 <= fingerprint["soundsafe.snr-5.len3.top1"] <= 1.0 and "chromaprint.snr5.len3.mrr" in fingerprint
    assert (project / "reports/fingerprint/top1_vs_snr.png").stat().st_size > 10_000
    assert (project / "models/fingerprint/encoder.int8.onnx").is_file()
    marked = json.loads((project / "reports/nnw/mark/metrics.json").read_text())
    assert marked["found_pt"] == marked["found_onnx"] == marked["found_int8_onnx"] == 1
    nnw = json.loads((project / "reports/nnw/metrics.json").read_text())
    assert nnw["payload_bits"] >= 64 and nnw["unmarked_found"] == 0 and nnw["bit_errors.l1_0.5"] == 0
    assert "## False positives" in (project / "reports/nnw/summary.md").read_text()
    assert (project / "reports/nnw/robustness.png").stat().st_size > 10_000
    attributed = json.loads((project / "reports/attribution/metrics.json").read_text())
    assert 0.0 <= attributed["ddsp.echo75.raw.auc"] <= 1.0 and "vae.tse100.mp3.fpr" in attributed
    assert attributed["marking.echo75.snr_db"] < 12  # α = 0.4: the echo is loud, by design of the experiment
    assert "| echo75 | ddsp | no | raw |" in (project / "reports/attribution/summary.md").read_text()
    cloaked = json.loads((project / "reports/cloak/metrics.json").read_text())
    assert cloaked["whitebox.nmr_db.max"] < 0 and cloaked["blackbox.snr_db.min"] >= 30
    assert "transformer.whitebox_mp3.frechet_ratio" in cloaked
    assert "## Against the targets" in (project / "reports/cloak/summary.md").read_text()
    registered = json.loads((project / "reports/register/metrics.json").read_text())
    assert registered["version"] == 1 and registered["gate_passed"] == 1  # the ci gate's bounds
    assert registered["onnx_version"] == 1 and registered["onnx_gate_passed"] == 1

    again = _pipeline(project)
    assert again.returncode == 0
    assert "Running stage" not in again.stdout, again.stdout

    params = project / "params.yaml"
    params.write_text(params.read_text().replace("max_silence_ratio: 0.5", "max_silence_ratio: 0.6"))
    changed = _pipeline(project)
    assert changed.returncode == 0, changed.stderr
    assert "Running stage 'validate'" in changed.stdout and "Running stage 'corpus'" not in changed.stdout

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["soundsafe"])
    parents = runs[runs["tags.soundsafe.kind"] == "pipeline"]
    assert len(parents) == 3
    first_parent = parents.sort_values("start_time").iloc[0]["run_id"]
    children = runs[runs["tags.mlflow.parentRunId"] == first_parent]
    assert sorted(children["tags.mlflow.runName"]) == sorted(["corpus", "validate", *phases, "export", "evaluate",
                                                                  "fingerprint_train", "fingerprint_index",
                                                                  "fingerprint_evaluate", "nnw_mark", "nnw_evaluate",
                                                                  "attribution_train", "attribution_evaluate",
                                                                  "cloak", "cloak_evaluate",
                                                                  "register"])
    assert set(children["status"]) == {"FINISHED"}
    assert float(children[children["tags.mlflow.runName"] == "corpus"]["metrics.tracks"].iloc[0]) == 8
    evaluate_run = children[children["tags.mlflow.runName"] == "evaluate"]["run_id"].iloc[0]
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(evaluate_run, "evaluate")}
    assert "evaluate/report.html" in logged and "evaluate/figures" in logged
    champion = mlflow.MlflowClient().get_model_version_by_alias("soundsafe-watermark", "champion")
    assert int(champion.version) == 1 and champion.tags["gate"] == "passed"
    assert len(champion.tags["data_manifest_sha256"]) == 64 and champion.tags["profile"] == "ci"
    onnx_champion = mlflow.MlflowClient().get_model_version_by_alias("soundsafe-watermark-onnx", "champion")
    assert onnx_champion.source.endswith("/onnx") and "read_agreement" in onnx_champion.tags["export_checks"]
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(onnx_champion.run_id, "onnx")}
    assert {"onnx/embedder.onnx", "onnx/detector.int8.onnx", "onnx/model.json"} <= logged


def test_bad_data_stops_the_pipeline_with_a_readable_summary(project: Path) -> None:
    params = project / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("  sample_rate: 44100\n  channels", "  sample_rate: 48000\n  channels"))
    try:
        failed = _pipeline(project, "--profile", "ci")
    finally:
        params.write_text(original)
    assert failed.returncode == 1
    assert "data validation failed" in failed.stderr
    assert "demo-00000.wav: sample rate must be 48000 Hz (sample_rate = 44100)" in failed.stderr
    assert (project / "reports/validate/report.json").is_file()
