"""Step ``export``: the trained model to ONNX (+ int8), checked against torch and timed on one core."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def export(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset], model: Input[Model],
           onnx: Output[Model], engines: Output[Artifact], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path, "models/watermark/realtime": model.path}
    values = run_step_in_workspace("export", params, profile, inputs,
                                   {"models/onnx": onnx.path, "reports/export/engines.csv": engines.path},
                                   metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
