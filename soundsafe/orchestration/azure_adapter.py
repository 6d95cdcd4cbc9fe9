"""Azure ML adapter: command components, computes, environments, the pipeline job and its retraining schedule.

Everything is derived from the step registry and ``params.yaml: azureml``:

- one **command component** per step, whose command is ``soundsafe step NAME --input REL=${{inputs.X}}
  --output REL=${{outputs.Y}}`` (the same workspace runner as Kubeflow), with the CPU or CUDA environment by
  hardware class; a100 steps run distributed (PyTorch, one process per GPU: torchrun's environment);
- one **AmlCompute** per hardware class (low-priority tier, scale to zero);
- the **pipeline job**: every step a node on its class's compute, inputs wired from the producing node's
  outputs, ``params.yaml`` passed as a file;
- a **JobSchedule** that re-runs the pipeline (weekly by default).

``soundsafe pipeline azure render`` writes them as YAML (``pipelines/azureml/``) after the SDK's own offline
validation; ``soundsafe pipeline azure submit`` creates them in a workspace with ``MLClient`` and
``DefaultAzureCredential`` (az login, a managed identity, or environment credentials; none live in the repo).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from soundsafe.params import load_params
from soundsafe.steps.registry import STEPS, Step, topological_order

__all__ = ["AzureSpecs", "artifact_name", "build_specs", "render", "submit", "validate"]

RENDERED = Path("pipelines/azureml")


def artifact_name(path: str) -> str:
    """An Azure ML input/output name for a registry path (``models/watermark/core`` → ``model_core``)."""
    parts = Path(path).parts
    if parts[0] == "data":
        return parts[-1]
    if parts[0] == "models":
        return f"model_{parts[-1]}"
    if parts[-1] == "metrics.json":
        return f"metrics_{parts[-2]}"
    return "_".join(parts).replace(".", "_")


def _producers() -> dict[str, tuple[Step, str]]:
    """Registry path → (producing step, output name)."""
    found = {}
    for step in STEPS:
        for out in step.outs:
            found[out] = (step, artifact_name(out))
        if step.metrics:
            found[step.metrics] = (step, "metrics")
    return found


class AzureSpecs:
    """The Azure ML entities for one ``params.yaml``: computes, environments, components, job, schedule."""

    def __init__(self, computes: list[Any], environments: dict[str, Any], components: dict[str, Any],
                 job: Any, schedule: Any) -> None:
        self.computes, self.environments, self.components = computes, environments, components
        self.job, self.schedule = job, schedule


def _component(step: Step, environment: str, settings: Mapping[str, Any]) -> Any:
    from azure.ai.ml import Input, Output, PyTorchDistribution, command

    producers = _producers()
    inputs: dict[str, Any] = {"params": Input(type="uri_file"), "profile": Input(type="string", default="local")}
    cmd = ["soundsafe step", step.name, "--params ${{inputs.params}}", "--profile ${{inputs.profile}}"]
    for dep in step.deps:
        if dep not in producers:
            raise ValueError(f"step {step.name}: input {dep} has no producing step (user data is not wired here)")
        name = artifact_name(dep)
        inputs[name] = Input(type="uri_file" if dep.endswith(".json") else "uri_folder")
        cmd.append(f"--input {dep}=${{{{inputs.{name}}}}}")
    outputs: dict[str, Any] = {}
    for out in step.outs:
        outputs[artifact_name(out)] = Output(type="uri_folder")
        cmd.append(f"--output {out}=${{{{outputs.{artifact_name(out)}}}}}")
    if step.metrics:
        outputs["metrics"] = Output(type="uri_file")
        cmd.append("--metrics-out ${{outputs.metrics}}")
    extra: dict[str, Any] = {}
    gpus = int(settings["computes"][step.hardware].get("gpus_per_node", 0))
    if gpus > 1:  # one process per GPU; torchrun-style RANK/WORLD_SIZE/MASTER_ADDR are set by Azure ML
        extra.update(distribution=PyTorchDistribution(process_count_per_instance=gpus), instance_count=1)
    return command(name=f"soundsafe_{step.name}", display_name=step.name, description=step.description,
                   inputs=inputs, outputs=outputs, command=" ".join(cmd), environment=environment,
                   compute=settings["computes"][step.hardware]["name"], **extra)


def build_specs(root: Path, params_path: str | None = None) -> AzureSpecs:
    """All Azure ML entities for the project in ``root`` (no network, no credentials); the job reads
    ``params_path`` (default: ``root/params.yaml``, absolute; rendered specs use a path relative to them)."""
    from azure.ai.ml import Input, dsl
    from azure.ai.ml.entities import (
        AmlCompute,
        Environment,
        JobSchedule,
        RecurrencePattern,
        RecurrenceTrigger,
    )

    params = load_params(root / "params.yaml")
    if "azureml" not in params:
        raise ValueError(f"{root / 'params.yaml'}: no 'azureml' section (computes, images, schedule)")
    settings = params["azureml"]
    computes = [AmlCompute(name=c["name"], size=c["size"], min_instances=0, max_instances=int(c["max_nodes"]),
                           tier=settings.get("tier", "low_priority"),
                           idle_time_before_scale_down=int(settings.get("idle_seconds", 600)))
                for c in settings["computes"].values()]
    environments = {kind: Environment(name=f"soundsafe-{kind}", image=image,
                                      description=f"SoundSafe {kind} image (infra/Dockerfile.{kind})")
                    for kind, image in settings["images"].items()}
    # components name their environment by reference: it is created once, beside them (submit)
    components = {s.name: _component(s, f"azureml:soundsafe-{'cpu' if s.hardware == 'cpu' else 'cuda'}@latest",
                                      settings) for s in STEPS}
    producers = _producers()
    order = topological_order()

    @dsl.pipeline(name="soundsafe_training", description="SoundSafe: corpus, validation, five training phases, "
                  "evaluation (one node per registered step).")
    def soundsafe_training(params, profile="local"):
        nodes: dict[str, Any] = {}
        for name in order:
            step = next(s for s in STEPS if s.name == name)
            wired = {artifact_name(d): nodes[producers[d][0].name].outputs[producers[d][1]] for d in step.deps}
            nodes[name] = components[name](params=params, profile=profile, **wired)
            nodes[name].compute = settings["computes"][step.hardware]["name"]

    job = soundsafe_training(params=Input(type="uri_file", path=params_path or str((root / "params.yaml").resolve())),
                             profile=params.get("profile", "local"))
    job.experiment_name = settings.get("experiment", "soundsafe")
    sched = settings["schedule"]
    trigger = RecurrenceTrigger(frequency=sched["frequency"], interval=int(sched["interval"]),
                                schedule=RecurrencePattern(hours=int(sched["hour"]), minutes=int(sched["minute"]),
                                                           week_days=sched.get("week_days")),
                                time_zone=sched.get("time_zone", "UTC"))
    schedule = JobSchedule(name=sched["name"], trigger=trigger, create_job=job,
                           description="Scheduled retraining of the SoundSafe watermark pipeline")
    return AzureSpecs(computes, environments, components, job, schedule)


def validate(specs: AzureSpecs) -> list[str]:
    """The SDK's offline validation of the pipeline job and the schedule: a list of problems (empty = valid)."""
    problems = []
    for what, entity in (("pipeline job", specs.job), ("schedule", specs.schedule)):
        result = entity._validate()  # the SDK's own schema + pipeline validation, offline
        if not result.passed:
            problems += [f"{what}: {e}" for e in result.error_messages.values()] or [f"{what}: {result}"]
    return problems


def render(root: Path, out_dir: Path | None = None) -> list[Path]:
    """Validate, then write every entity's YAML under ``out_dir`` (default ``pipelines/azureml/``)."""
    import os

    from soundsafe.atomic import atomic_dir

    out_dir = out_dir or root / RENDERED
    params_ref = os.path.relpath((root / "params.yaml").resolve(), out_dir.resolve())
    specs = build_specs(root, params_ref)
    problems = validate(specs)
    if problems:
        raise ValueError("Azure ML specs failed the SDK's validation:\n" + "\n".join(problems))
    written = []
    with atomic_dir(out_dir) as tmp:
        for compute in specs.computes:
            compute.dump(tmp / f"compute-{compute.name}.yaml")
        for kind, env in specs.environments.items():
            env.dump(tmp / f"environment-{kind}.yaml")
        for entity, name in ((specs.job, "pipeline_job.yaml"), (specs.schedule, "schedule.yaml")):
            entity.dump(tmp / name)
            # the SDK dumps a local input path as an "azureml:" asset id; `az ml job create` wants the path
            text = (tmp / name).read_text(encoding="utf-8")
            (tmp / name).write_text(text.replace(f"azureml:{params_ref}", params_ref), encoding="utf-8")
        written = sorted(p.name for p in tmp.iterdir())
    return [out_dir / name for name in written]


def submit(root: Path, subscription_id: str, resource_group: str, workspace: str) -> str:
    """Create or update computes, environments and the schedule in an Azure ML workspace; returns the first
    pipeline run's name (a run is started now as well as on the schedule)."""
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    specs = build_specs(root)
    problems = validate(specs)
    if problems:
        raise ValueError("Azure ML specs failed the SDK's validation:\n" + "\n".join(problems))
    client = MLClient(DefaultAzureCredential(), subscription_id, resource_group, workspace)
    for compute in specs.computes:
        client.compute.begin_create_or_update(compute).result()
    for env in specs.environments.values():
        client.environments.create_or_update(env)
    run = client.jobs.create_or_update(specs.job)
    client.schedules.begin_create_or_update(specs.schedule).result()
    return str(run.name)
