"""Step ``validate``: check the corpus with Great Expectations; fails the run on bad data."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def validate(params: str, profile: str, corpus: Input[Dataset], validated: Output[Dataset],
             metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    values = run_step_in_workspace("validate", params, profile, {"data/corpus": corpus.path},
                                   {"data/validated": validated.path}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
