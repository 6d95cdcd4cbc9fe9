"""Step ``register`` and the release gate in front of it (the pipeline runs ``register`` under ``dsl.If``)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def release_gate(params: str, profile: str, evaluation: Input[Metrics]) -> bool:
    """True when the evaluation passes ``params.yaml: register.gate`` (the reasons are printed otherwise)."""
    import json

    from soundsafe.params import resolve_section
    from soundsafe.release.gate import gate_failures

    gate = resolve_section(json.loads(params), "register", profile)["gate"]
    with open(evaluation.path, encoding="utf-8") as f:
        failures = gate_failures(json.load(f), gate)
    for failure in failures:
        print(f"release gate: {failure}")
    return not failures


@dsl.component(base_image=CPU_IMAGE)
def register(params: str, profile: str, data: Input[Dataset], model: Input[Model], onnx: Input[Model],
             evaluation: Input[Metrics], export_metrics: Input[Metrics], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/validated": data.path, "models/watermark/realtime": model.path, "models/onnx": onnx.path,
              "reports/evaluate/metrics.json": evaluation.path, "reports/export/metrics.json": export_metrics.path}
    values = run_step_in_workspace("register", params, profile, inputs, {}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
