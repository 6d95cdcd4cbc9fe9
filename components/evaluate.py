"""Step ``evaluate``: the model and the baselines on the test split; the HTML report and the metrics."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def evaluate(params: str, profile: str, corpus: Input[Dataset], data: Input[Dataset], model: Input[Model],
             core: Input[Metrics], variable: Input[Metrics], hierarchical: Input[Metrics],
             loss_finetune: Input[Metrics], realtime: Input[Metrics], report: Output[HTML],
             report_folder: Output[Artifact], metrics: Output[Metrics]) -> None:
    from soundsafe.orchestration.workspace import loggable, run_step_in_workspace

    phases = {"core": core, "variable": variable, "hierarchical": hierarchical, "loss_finetune": loss_finetune,
              "realtime": realtime}
    inputs = {"data/corpus": corpus.path, "data/validated": data.path, "models/watermark/realtime": model.path,
              **{f"reports/watermark/{p}/metrics.json": m.path for p, m in phases.items()}}
    values = run_step_in_workspace("evaluate", params, profile, inputs,
                                   {"reports/evaluate/report.html": report.path,
                                    "reports/evaluate": report_folder.path}, metrics.path)
    for key, value in loggable(values).items():
        metrics.log_metric(key, value)
