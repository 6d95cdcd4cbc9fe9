"""The SoundSafe training pipeline for Kubeflow Pipelines (kfp v2), built from the step registry.

corpus → validate → core → variable → hierarchical → loss_finetune → realtime → export, evaluate → (gate) →
register; and beside the watermark, validate → fingerprint_train → fingerprint_index → fingerprint_evaluate, and
fingerprint_train → nnw_mark → nnw_evaluate (the ownership mark in the encoder), and validate → attribution_train →
attribution_evaluate (hidden echoes in training music), and validate → cloak → cloak_evaluate (protective noise).
``register`` runs only when the release gate passes (``dsl.If`` on ``params.yaml: register.gate``). Artifacts flow
between the tasks (Dataset, Model, Metrics, HTML); each task gets its hardware class's resources, accelerator,
node selector and tolerations from ``params.yaml: kubeflow``; training tasks retry with exponential backoff.

    soundsafe pipeline kfp compile      # → pipelines/soundsafe_training.yaml
    soundsafe pipeline kfp run-local    # the same pipeline with kfp.local's subprocess runner
"""


from collections.abc import Mapping
from typing import Any

from kfp import dsl, kubernetes

from components.attribution import attribution_evaluate, attribution_train
from components.cloak import cloak, cloak_evaluate
from components.corpus import corpus
from components.evaluate import evaluate
from components.export import export
from components.fingerprint import fingerprint_evaluate, fingerprint_index, fingerprint_train
from components.nnw import nnw_evaluate, nnw_mark
from components.register import register, release_gate
from components.train_phase import train_phase
from components.validate import validate
from soundsafe.steps.registry import get_step
from soundsafe.watermark.step import PHASES

__all__ = ["build_pipeline"]


def _hardware(task: dsl.PipelineTask, step: str, settings: Mapping[str, Any]) -> dsl.PipelineTask:
    """Resources, accelerator, node placement and retries for ``step``'s hardware class."""
    hw = get_step(step).hardware
    spec = settings["hardware"][hw]
    task.set_display_name(step)
    task.set_cpu_request(str(spec["cpu"])).set_cpu_limit(str(spec["cpu"]))
    task.set_memory_request(spec["memory"]).set_memory_limit(spec["memory"])
    if spec.get("accelerator"):
        task.set_accelerator_type(spec["accelerator"]).set_accelerator_limit(int(spec["accelerator_count"]))
    for key, value in spec.get("node_selector", {}).items():
        kubernetes.add_node_selector(task, label_key=key, label_value=str(value))
    for toleration in spec.get("tolerations", []):
        kubernetes.add_toleration(task, **toleration)
    task.set_caching_options(bool(settings.get("caching", True)))
    if hw != "cpu":  # long GPU steps on spot nodes: retry after a preemption
        retry = settings["retries"]
        task.set_retry(num_retries=int(retry["count"]), backoff_duration=retry["backoff"],
                       backoff_factor=float(retry["factor"]), backoff_max_duration=retry["max"])
    return task


def build_pipeline(settings: Mapping[str, Any]) -> Any:
    """The pipeline function for ``settings`` (``params.yaml``'s ``kubeflow`` section)."""

    @dsl.pipeline(name="soundsafe-training",
                  description="SoundSafe: corpus, validation, five watermark training phases, ONNX export, "
                              "evaluation, gated registration; the concert-robust fingerprint.")
    def soundsafe_training(params: str, profile: str = "local") -> None:
        c = _hardware(corpus(params=params, profile=profile), "corpus", settings)
        v = _hardware(validate(params=params, profile=profile, corpus=c.outputs["corpus"]), "validate", settings)
        trained: dict[str, dsl.PipelineTask] = {}
        previous = None
        for phase in PHASES:
            extra = {"previous": trained[previous].outputs["model"]} if previous else {}
            task = train_phase(phase=phase, previous_phase=previous or "", params=params, profile=profile,
                               corpus=c.outputs["corpus"], data=v.outputs["validated"], **extra)
            trained[phase] = _hardware(task, phase, settings)
            previous = phase
        x = _hardware(export(params=params, profile=profile, corpus=c.outputs["corpus"], data=v.outputs["validated"],
                             model=trained["realtime"].outputs["model"]), "export", settings)
        e = _hardware(evaluate(params=params, profile=profile, corpus=c.outputs["corpus"], data=v.outputs["validated"],
                               model=trained["realtime"].outputs["model"],
                               **{p: trained[p].outputs["metrics"] for p in PHASES}), "evaluate", settings)
        ft = _hardware(fingerprint_train(params=params, profile=profile, corpus=c.outputs["corpus"],
                                         data=v.outputs["validated"]), "fingerprint_train", settings)
        fi = _hardware(fingerprint_index(params=params, profile=profile, corpus=c.outputs["corpus"],
                                         data=v.outputs["validated"], model=ft.outputs["model"]),
                       "fingerprint_index", settings)
        _hardware(fingerprint_evaluate(params=params, profile=profile, corpus=c.outputs["corpus"],
                                       data=v.outputs["validated"], model=ft.outputs["model"],
                                       index=fi.outputs["index"]), "fingerprint_evaluate", settings)
        nm = _hardware(nnw_mark(params=params, profile=profile, corpus=c.outputs["corpus"], data=v.outputs["validated"],
                                model=ft.outputs["model"]), "nnw_mark", settings)
        _hardware(nnw_evaluate(params=params, profile=profile, corpus=c.outputs["corpus"], data=v.outputs["validated"],
                               model=ft.outputs["model"], marked=nm.outputs["marked"]), "nnw_evaluate", settings)
        at = _hardware(attribution_train(params=params, profile=profile, corpus=c.outputs["corpus"],
                                         data=v.outputs["validated"]), "attribution_train", settings)
        _hardware(attribution_evaluate(params=params, profile=profile, corpus=c.outputs["corpus"],
                                       data=v.outputs["validated"], models=at.outputs["models"]),
                  "attribution_evaluate", settings)
        ck = _hardware(cloak(params=params, profile=profile, corpus=c.outputs["corpus"], data=v.outputs["validated"]),
                       "cloak", settings)
        _hardware(cloak_evaluate(params=params, profile=profile, corpus=c.outputs["corpus"],
                                 data=v.outputs["validated"], cloaks=ck.outputs["cloaks"]), "cloak_evaluate", settings)
        gate = release_gate(params=params, profile=profile, evaluation=e.outputs["metrics"])
        gate.set_display_name("release_gate").set_caching_options(False)
        with dsl.If(gate.output == True, name="evaluation-passed"):  # noqa: E712 (a pipeline expression)
            _hardware(register(params=params, profile=profile, data=v.outputs["validated"],
                               model=trained["realtime"].outputs["model"], onnx=x.outputs["onnx"],
                               evaluation=e.outputs["metrics"], export_metrics=x.outputs["metrics"]),
                      "register", settings)

    return soundsafe_training
