"""Steps ``attribution_train`` and ``attribution_evaluate``: hidden echoes in training music, read in what
generative models trained on it make (seed 003)."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.images import CPU_IMAGE, CUDA_IMAGE


@dsl.component(base_image=CUDA_IMAGE)
def attribution_train(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset],
                      models: Output[Model], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path}
    values = run_step_in_workspace("attribution_train", params, profile, inputs, {"models/attribution": models.path},
                                   metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)


@dsl.component(base_image=CPU_IMAGE)
def attribution_evaluate(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset],
                         models: Input[Model], report: Output[Artifact], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path, "models/attribution": models.path}
    values = run_step_in_workspace("attribution_evaluate", params, profile, inputs,
                                   {"reports/attribution": report.path}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
