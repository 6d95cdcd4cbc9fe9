"""The ``register`` step: the trained model (torch) and its ONNX export into the MLflow model registry, with
metrics and lineage; the ``champion`` alias moves only when the gates in ``params.yaml: register`` pass.

Lineage travels as model-version tags: git commit, the validated data's manifest hash (the data version DVC
tracks), the profile, the model config and the evaluation metrics the gate read. The torch model registers as
``model_name`` (``model/model.pt``); the ONNX pair as ``<model_name>-onnx`` (the ``onnx/`` folder: fp32 and int8
graphs and ``model.json``), whose champion also needs the export checks (``onnx_gate``: agreement with torch).
The registry is MLflow's (the project's SQLite store by default, ``MLFLOW_TRACKING_URI`` otherwise).
"""

from __future__ import annotations

import json
from typing import Any

from soundsafe.manifest import MANIFEST_NAME, sha256_file
from soundsafe.release.gate import gate_failures
from soundsafe.steps.context import StepContext
from soundsafe.tracking import git_commit

__all__ = ["run"]


def _register(client: Any, name: str, description: str, source: str, run_id: str, tags: dict[str, str],
              failures: list[str], alias: str, profile: str) -> int:
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name, description=description)
    tags = {**tags, "gate": "passed" if not failures else "failed: " + "; ".join(failures)[:4000]}
    version = client.create_model_version(name, source=source, run_id=run_id, tags=tags,
                                          description=f"trained by the {profile} profile")
    if not failures:
        client.set_registered_model_alias(name, alias, version.version)
        print(f"registered {name} version {version.version}; alias {alias!r} moved to it")
    else:
        print(f"registered {name} version {version.version}; alias {alias!r} NOT moved:\n  " + "\n  ".join(failures))
    return int(version.version)


def run(ctx: StepContext) -> dict[str, float]:
    import mlflow

    settings: dict[str, Any] = ctx.params["register"]
    evaluation = json.loads(ctx.path("reports/evaluate/metrics.json").read_text())
    exported = json.loads(ctx.path("reports/export/metrics.json").read_text())
    failures = gate_failures(evaluation, settings["gate"])
    onnx_failures = failures + gate_failures(exported, settings.get("onnx_gate", {}))
    ctx.run.log_artifact(ctx.path("models/watermark/realtime") / "model.pt", artifact_path="model")
    ctx.run.log_artifacts(ctx.path("models/onnx"), artifact_path="onnx")
    run_id = mlflow.active_run().info.run_id
    client = mlflow.MlflowClient()
    gated = {k: evaluation.get(k) for kind in ("min", "max") for k in settings["gate"].get(kind, {})}
    tags = {
        "git_commit": git_commit(ctx.root),
        "data_manifest_sha256": sha256_file(ctx.path("data/validated") / MANIFEST_NAME),
        "profile": ctx.profile,
        "evaluation": json.dumps(gated)[:4000],
    }
    name, alias = settings["model_name"], settings["alias"]
    version = _register(client, name, "SoundSafe watermark embedder/detector (torch)",
                        mlflow.get_artifact_uri("model"), run_id, tags, failures, alias, ctx.profile)
    onnx_checks = {k: exported.get(k) for k in exported if k.startswith("onnx_")}
    onnx_version = _register(client, f"{name}-onnx", "SoundSafe watermark embedder/detector (ONNX fp32 + int8)",
                             mlflow.get_artifact_uri("onnx"), run_id,
                             {**tags, "export_checks": json.dumps(onnx_checks)[:4000]}, onnx_failures, alias,
                             ctx.profile)
    return {"version": float(version), "gate_passed": float(not failures), "gate_failures": float(len(failures)),
            "onnx_version": float(onnx_version), "onnx_gate_passed": float(not onnx_failures)}
