"""The ``register`` step: the trained model into the MLflow model registry, with its metrics and lineage; the
``champion`` alias moves to it only when the evaluation passes the gate in ``params.yaml: register``.

Lineage travels as model-version tags: git commit, the validated data's manifest hash (the data version DVC
tracks), the profile, the model config and the evaluation metrics the gate read. The registry is MLflow's
(the project's SQLite store by default, ``MLFLOW_TRACKING_URI`` otherwise).
"""

from __future__ import annotations

import json
from typing import Any

from soundsafe.manifest import MANIFEST_NAME, sha256_file
from soundsafe.release.gate import gate_failures
from soundsafe.steps.context import StepContext
from soundsafe.tracking import git_commit

__all__ = ["run"]


def run(ctx: StepContext) -> dict[str, float]:
    import mlflow

    settings: dict[str, Any] = ctx.params["register"]
    evaluation = json.loads(ctx.path("reports/evaluate/metrics.json").read_text())
    failures = gate_failures(evaluation, settings["gate"])
    model_dir = ctx.path("models/watermark/realtime")
    ctx.run.log_artifact(model_dir / "model.pt", artifact_path="model")
    source = mlflow.get_artifact_uri("model")
    run_id = mlflow.active_run().info.run_id
    client = mlflow.MlflowClient()
    name = settings["model_name"]
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name, description="SoundSafe watermark embedder/detector (torch)")
    gated = {k: evaluation.get(k) for kind in ("min", "max") for k in settings["gate"].get(kind, {})}
    tags = {
        "git_commit": git_commit(ctx.root),
        "data_manifest_sha256": sha256_file(ctx.path("data/validated") / MANIFEST_NAME),
        "profile": ctx.profile,
        "gate": "passed" if not failures else "failed: " + "; ".join(failures)[:4000],
        "evaluation": json.dumps(gated)[:4000],
    }
    version = client.create_model_version(name, source=source, run_id=run_id, tags=tags,
                                          description=f"trained by the {ctx.profile} profile")
    if not failures:
        client.set_registered_model_alias(name, settings["alias"], version.version)
        print(f"registered {name} version {version.version}; alias {settings['alias']!r} moved to it")
    else:
        print(f"registered {name} version {version.version}; alias {settings['alias']!r} NOT moved:\n  "
              + "\n  ".join(failures))
    return {"version": float(version.version), "gate_passed": float(not failures),
            "gate_failures": float(len(failures))}
