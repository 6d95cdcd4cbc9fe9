"""Steps ``core`` … ``realtime``: one training phase, starting from the previous phase's model (none for core)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import CUDA_IMAGE


@dsl.component(base_image=CUDA_IMAGE)
def train_phase(phase: str, previous_phase: str, params: str, profile: str, corpus: Input[Dataset],
                data: Input[Dataset], model: Output[Model], metrics: Output[Metrics],
                previous: Input[Model] = None) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path}  # the manifest points into the corpus
    if previous is not None:
        inputs[f"models/watermark/{previous_phase}"] = previous.path
    values = run_step_in_workspace(phase, params, profile, inputs, {f"models/watermark/{phase}": model.path},
                                   metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
