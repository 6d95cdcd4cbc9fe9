"""Steps ``fingerprint_train``, ``fingerprint_index`` and ``fingerprint_evaluate``: the concert-robust fingerprint."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.images import CPU_IMAGE, CUDA_IMAGE


@dsl.component(base_image=CUDA_IMAGE)
def fingerprint_train(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset],
                      model: Output[Model], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    values = run_step_in_workspace("fingerprint_train", params, profile,
                                   {"data/corpus": corpus.path, "data/validated": data.path},
                                   {"models/fingerprint": model.path}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)


@dsl.component(base_image=CPU_IMAGE)
def fingerprint_index(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset],
                      model: Input[Model], index: Output[Artifact], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path, "models/fingerprint": model.path}
    values = run_step_in_workspace("fingerprint_index", params, profile, inputs,
                                   {"models/fingerprint_index": index.path}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)


@dsl.component(base_image=CPU_IMAGE)
def fingerprint_evaluate(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset],
                         model: Input[Model], index: Input[Artifact], report: Output[Artifact],
                         metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path, "models/fingerprint": model.path,
              "models/fingerprint_index": index.path}
    values = run_step_in_workspace("fingerprint_evaluate", params, profile, inputs,
                                   {"reports/fingerprint": report.path}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
