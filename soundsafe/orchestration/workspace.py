"""Run one registered step in a throwaway project folder whose inputs and outputs are orchestrator artifacts.

Kubeflow and Azure ML hand a step its inputs as paths they chose (artifact folders) and want the outputs at
other paths. :func:`run_step_in_workspace` builds a project folder the step cannot tell from a checkout:
``params.yaml`` (the text passed in), each input linked at its registry path (``data/validated``,
``models/watermark/core``, ``reports/watermark/core/metrics.json``), runs the step exactly as ``soundsafe step``
does, then copies each output (and the metrics file) to the path the orchestrator gave.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from soundsafe.steps.registry import Step, get_step

__all__ = ["WorkspaceError", "loggable", "run_step_in_workspace"]


class WorkspaceError(RuntimeError):
    """An input the step declares is missing, or an output it declares was not written."""


def _place(src: Path, dest: Path) -> None:
    # A folder becomes a real folder of links to its entries, not one link: a manifest's "../corpus/…" must
    # climb to the workspace's data/, which `..` through a linked folder would not (it climbs from the target).
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        dest.mkdir()
        for entry in src.iterdir():
            os.symlink(entry.resolve(), dest / entry.name, target_is_directory=entry.is_dir())
    else:
        os.symlink(src.resolve(), dest)


def _copy_out(src: Path, dest: Path) -> None:
    if dest.exists() or dest.is_symlink():
        shutil.rmtree(dest) if dest.is_dir() and not dest.is_symlink() else dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copyfile(src, dest)


def loggable(metrics: Mapping[str, float]) -> dict[str, float]:
    """The finite numeric metrics (Kubeflow's metadata store rejects NaN and infinities)."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and math.isfinite(float(v))}


def run_step_in_workspace(name: str, params_yaml: str, profile: str | None, inputs: Mapping[str, str],
                          outputs: Mapping[str, str], metrics_out: str | None = None,
                          workspace: str | None = None) -> dict[str, float]:
    """Run step ``name``; ``inputs``/``outputs`` map registry paths to orchestrator paths. Returns its metrics.

    ``metrics_out`` receives the step's metrics JSON. The workspace is a temporary folder (removed afterwards)
    unless ``workspace`` names one. MLflow logs to ``$MLFLOW_TRACKING_URI`` when set (a cluster's tracking
    server; Azure ML sets it), else to a SQLite store inside the workspace.
    """
    step = get_step(name)
    missing = set(step.deps) - set(inputs)
    if missing:
        raise WorkspaceError(f"step {name}: no artifact given for its inputs {sorted(missing)}")
    if workspace is not None:
        return _run(step, Path(workspace), params_yaml, profile, inputs, outputs, metrics_out)
    with tempfile.TemporaryDirectory(prefix=f"soundsafe-{name}-") as tmp:  # outputs are copied out first
        return _run(step, Path(tmp), params_yaml, profile, inputs, outputs, metrics_out)


def _run(step: Step, root: Path, params_yaml: str, profile: str | None, inputs: Mapping[str, str],
         outputs: Mapping[str, str], metrics_out: str | None) -> dict[str, float]:
    from soundsafe.steps.runner import run_step

    name = step.name
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(params_yaml, encoding="utf-8")
    for rel, src in inputs.items():
        if not Path(src).exists():
            raise WorkspaceError(f"step {name}: input artifact for {rel} not found at {src}")
        _place(Path(src), root / rel)
    metrics = run_step(name, root, root / "params.yaml", profile)
    for rel, dest in outputs.items():
        produced = root / rel
        if not produced.exists():
            raise WorkspaceError(f"step {name}: declared output {rel} was not written")
        _copy_out(produced, Path(dest))
    if metrics_out and step.metrics:
        _copy_out(root / step.metrics, Path(metrics_out))
    elif metrics_out:
        Path(metrics_out).write_text(json.dumps(metrics), encoding="utf-8")
    return metrics
