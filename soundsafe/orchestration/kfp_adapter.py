"""``soundsafe pipeline kfp compile|run-local``: the Kubeflow pipeline from ``pipelines/kfp_training.py``.

The pipeline's ``params`` argument is ``params.yaml`` as one line of JSON (compiled in as its default, so a
cluster run uses the same parameters as ``dvc repro``; one line because the compiler copies defaults into a YAML
comment header), ``profile`` picks ci / local / full.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from soundsafe.params import load_params

__all__ = ["COMPILED", "compile_pipeline", "load_pipeline", "params_json", "run_local"]

COMPILED = Path("pipelines/soundsafe_training.yaml")


def load_pipeline(root: Path) -> Any:
    """The pipeline function built with ``root/params.yaml``'s ``kubeflow`` settings."""
    if str(root) not in sys.path:  # components/ and pipelines/ live beside the package, in the project root
        sys.path.insert(0, str(root))
    from pipelines.kfp_training import build_pipeline

    params = load_params(root / "params.yaml")
    if "kubeflow" not in params:
        raise ValueError(f"{root / 'params.yaml'}: no 'kubeflow' section (hardware classes for the cluster)")
    return build_pipeline(params["kubeflow"])


def params_json(root: Path) -> str:
    """``params.yaml`` as one line of JSON (which is also valid YAML for the steps' workspaces)."""
    return json.dumps(load_params(root / "params.yaml"), separators=(",", ":"), ensure_ascii=False)


def compile_pipeline(root: Path, out: Path | None = None, profile: str | None = None) -> Path:
    """Compile to YAML (IR), with ``params.yaml``'s text and the profile as the pipeline's defaults."""
    import os

    from kfp import compiler

    out = out or root / COMPILED
    params_text = params_json(root)
    profile = profile or load_params(root / "params.yaml").get("profile", "local")
    tmp = out.with_name(f".{out.stem}.partial.yaml")  # kfp insists on a .yaml name; swapped in when complete
    try:
        compiler.Compiler().compile(load_pipeline(root), str(tmp),
                                    pipeline_parameters={"params": params_text, "profile": profile})
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def run_local(root: Path, profile: str, pipeline_root: Path) -> float:
    """Run the pipeline end to end with ``kfp.local``'s subprocess runner in this environment; seconds taken."""
    import os

    from kfp import local

    from soundsafe.tracking import tracking_uri

    # every task is a subprocess with its own workspace: point them all at the project's MLflow store
    os.environ.setdefault("MLFLOW_TRACKING_URI", tracking_uri(root))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    started = time.perf_counter()
    load_pipeline(root)(params=params_json(root), profile=profile)
    return time.perf_counter() - started
