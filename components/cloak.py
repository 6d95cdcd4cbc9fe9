"""Steps ``cloak`` and ``cloak_evaluate``: protective noise against generative training (HarmonyCloak, seed 002)."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.images import CUDA_IMAGE


@dsl.component(base_image=CUDA_IMAGE)
def cloak(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset], cloaks: Output[Model],
          metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path}
    values = run_step_in_workspace("cloak", params, profile, inputs, {"models/cloak": cloaks.path}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)


@dsl.component(base_image=CUDA_IMAGE)
def cloak_evaluate(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset], cloaks: Input[Model],
                   report: Output[Artifact], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    inputs = {"data/corpus": corpus.path, "data/validated": data.path, "models/cloak": cloaks.path}
    values = run_step_in_workspace("cloak_evaluate", params, profile, inputs, {"reports/cloak": report.path},
                                   metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
