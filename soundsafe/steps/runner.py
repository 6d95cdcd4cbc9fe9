"""Run one registered step: resolve its params, open its MLflow run, call it, write its metrics."""

from __future__ import annotations

import time
from pathlib import Path

from soundsafe.atomic import write_json
from soundsafe.params import load_params, resolve_section
from soundsafe.steps.context import StepContext
from soundsafe.steps.registry import get_step
from soundsafe.tracking import step_run

__all__ = ["run_step"]


def run_step(name: str, root: Path, params_path: Path | None = None, profile: str | None = None) -> dict[str, float]:
    """Run step ``name`` in project ``root``; returns its metrics (also written to its metrics file)."""
    step = get_step(name)
    params = load_params(params_path or root / "params.yaml")
    profile = profile or params.get("profile", "local")
    sections = {s: resolve_section(params, s, profile) for s in step.params}
    entry = step.load()
    with step_run(root, step.name, step.hardware, profile, sections) as run:
        started = time.perf_counter()
        try:
            metrics = dict(entry(StepContext(step=step, params=sections, profile=profile, root=root, run=run)))
        finally:
            # Reports matter most when the step fails (e.g. the validation report): log them either way.
            for report in step.reports:
                run.log_artifact(root / report, artifact_path="reports")
        metrics["step_wall_seconds"] = round(time.perf_counter() - started, 3)
        run.log_metrics(metrics)
        if step.metrics:
            write_json(root / step.metrics, metrics)
            run.log_artifact(root / step.metrics)
    return metrics
