"""MLflow tracking: one parent run per pipeline run, one child run per step.

The store defaults to a SQLite database in the project (``mlflow.db``, artifacts in ``mlartifacts/``), so no
server is needed; ``MLFLOW_TRACKING_URI`` points elsewhere. ``soundsafe pipeline run`` opens the parent run and
passes its id to the steps through ``SOUNDSAFE_PARENT_RUN_ID``; a step run on its own gets a standalone run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["EXPERIMENT", "PARENT_ENV", "flatten", "git_commit", "pipeline_run", "step_run", "tracking_uri"]

EXPERIMENT = "soundsafe"
PARENT_ENV = "SOUNDSAFE_PARENT_RUN_ID"


def tracking_uri(root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the project's SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root / 'mlflow.db').resolve()}"


def _mlflow(root: Path) -> Any:
    # MLflow is heavy to import and chatty at INFO (alembic migrations): load it only when tracking.
    import mlflow

    logging.getLogger("alembic").setLevel(logging.WARNING)
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        location = (root / "mlartifacts").resolve().as_uri() if uri.startswith("sqlite:") else None
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


def git_commit(root: Path) -> str:
    """The checked-out commit (with ``+dirty`` when the tree has changes), or ``unknown`` outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True)
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params as MLflow's flat ``a.b.c`` keys (values stringified, 500-char MLflow limit)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:500]
    return flat


@contextlib.contextmanager
def pipeline_run(root: Path, profile: str, run_name: str | None = None) -> Iterator[str]:
    """Open the parent run; steps started inside (as subprocesses) attach to it through the environment."""
    mlflow = _mlflow(root)
    tags = {"soundsafe.kind": "pipeline", "soundsafe.profile": profile, "git_commit": git_commit(root)}
    with mlflow.start_run(run_name=run_name or f"pipeline-{profile}", tags=tags) as run:
        os.environ[PARENT_ENV] = run.info.run_id
        try:
            yield run.info.run_id
        finally:
            os.environ.pop(PARENT_ENV, None)


class StepRun:
    """What a step may log while it runs (a thin face over the active MLflow run)."""

    def __init__(self, mlflow: Any) -> None:
        self._mlflow = mlflow

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        if Path(path).exists():
            self._mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_artifacts(self, folder: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        if Path(folder).is_dir():
            self._mlflow.log_artifacts(str(folder), artifact_path=artifact_path)


@contextlib.contextmanager
def step_run(root: Path, step: str, hardware: str, profile: str, params: Mapping[str, Any]) -> Iterator[StepRun]:
    """A child run of the pipeline's parent run (or a standalone run), with the step's params logged."""
    mlflow = _mlflow(root)
    parent = os.environ.get(PARENT_ENV)
    tags = {
        "soundsafe.kind": "step",
        "soundsafe.step": step,
        "soundsafe.hardware": hardware,
        "soundsafe.profile": profile,
        "git_commit": git_commit(root),
    }
    with mlflow.start_run(run_name=step, parent_run_id=parent, nested=bool(parent), tags=tags):
        mlflow.log_params(flatten(params))
        yield StepRun(mlflow)
