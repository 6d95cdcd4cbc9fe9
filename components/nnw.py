"""Steps ``nnw_mark`` and ``nnw_evaluate``: the ownership mark in the fingerprint encoder (MPAI-NNW)."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.images import CPU_IMAGE, CUDA_IMAGE


@dsl.component(base_image=CUDA_IMAGE)
def nnw_mark(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset], model: Input[Model],
             marked: Output[Model], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path, "models/fingerprint": model.path}
    values = run_step_in_workspace("nnw_mark", params, profile, inputs, {"models/nnw": marked.path}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)


@dsl.component(base_image=CPU_IMAGE)
def nnw_evaluate(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset], model: Input[Model],
                 marked: Input[Model], report: Output[Artifact], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path, "models/fingerprint": model.path,
              "models/nnw": marked.path}
    values = run_step_in_workspace("nnw_evaluate", params, profile, inputs, {"reports/nnw": report.path},
                                   metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
