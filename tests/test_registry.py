"""The step registry is the one source of truth: dvc.yaml is rendered from it and must agree."""

from __future__ import annotations

from pathlib import Path

import yaml

from soundsafe.params import load_params
from soundsafe.steps.dvc_yaml import render_dvc_yaml
from soundsafe.steps.registry import HARDWARE_CLASSES, STEPS, edges, get_step, topological_order

ROOT = Path(__file__).resolve().parents[1]


def test_committed_dvc_yaml_matches_the_registry() -> None:
    rendered = render_dvc_yaml(load_params(ROOT / "params.yaml"))
    assert (ROOT / "dvc.yaml").read_text() == rendered, "run `soundsafe pipeline dvc render` and commit dvc.yaml"


def test_dvc_stages_have_the_registry_steps_edges_and_params() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == [s.name for s in STEPS]
    params = load_params(ROOT / "params.yaml")
    for step in STEPS:
        stage = stages[step.name]
        assert stage["cmd"] == f"soundsafe step {step.name}"
        assert set(step.params) <= set(stage["params"])
        assert all(section in params for section in step.params)
        assert stage.get("outs", []) == list(step.outs)
    def produced(stage: dict) -> list[str]:  # outs and metrics files (a step may read another's metrics)
        return [*stage.get("outs", []), *(next(iter(m)) for m in stage.get("metrics", []))]

    dvc_edges = {(a, b) for b, st in stages.items() for dep in st.get("deps", [])
                 for a, other in stages.items() if dep in produced(other)}
    assert dvc_edges == edges()
    assert ("corpus", "validate") in edges()


def test_steps_are_well_formed() -> None:
    names = [s.name for s in STEPS]
    assert len(names) == len(set(names))
    outs = [o for s in STEPS for o in s.outs]
    assert len(outs) == len(set(outs)), "two steps write the same artifact"
    for step in STEPS:
        assert step.hardware in HARDWARE_CLASSES
        assert callable(step.load())
        for folder in step.code:
            assert (ROOT / folder).exists(), f"{step.name}: code path {folder} does not exist"
    order = topological_order()
    assert order.index("corpus") < order.index("validate")


def test_unknown_step_lists_the_known_ones() -> None:
    import pytest

    with pytest.raises(KeyError, match="known steps: corpus, validate"):
        get_step("trian")
