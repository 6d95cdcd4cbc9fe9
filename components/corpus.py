"""Step ``corpus``: render the demo corpus (or ingest a folder) into a Dataset."""

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def corpus(params: str, profile: str, corpus: Output[Dataset], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    values = run_step_in_workspace("corpus", params, profile, {}, {"data/corpus": corpus.path}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
