"""Render ``dvc.yaml`` from the step registry (``soundsafe pipeline dvc render``)."""

from __future__ import annotations

from typing import Any

import yaml

from soundsafe.steps.registry import STEPS, Step

__all__ = ["HEADER", "render_dvc_yaml", "stage_for"]

HEADER = (
    "# Generated from soundsafe/steps/registry.py by `soundsafe pipeline dvc render`. Do not edit by hand:\n"
    "# tests/test_registry.py fails when this file and the registry disagree.\n"
)


def stage_for(step: Step, params: dict[str, Any]) -> dict[str, Any]:
    """One DVC stage. A step whose sections have profile overrides also depends on ``profile``."""
    param_keys: list[str] = list(step.params)
    if any(isinstance(params.get(s), dict) and "profiles" in params[s] for s in step.params):
        param_keys.insert(0, "profile")
    stage: dict[str, Any] = {"desc": step.description, "cmd": f"soundsafe step {step.name}"}
    deps = [*step.deps, *step.code]
    if deps:
        stage["deps"] = deps
    stage["params"] = param_keys
    if step.outs:
        stage["outs"] = list(step.outs)
    if step.metrics:
        stage["metrics"] = [{step.metrics: {"cache": False}}]
    if step.plots:
        stage["plots"] = [{path: {"cache": False, "x": x, "y": y}} for path, x, y in step.plots]
    return stage


def render_dvc_yaml(params: dict[str, Any]) -> str:
    """The full dvc.yaml text for the registry, given the parsed params.yaml."""
    doc = {"stages": {s.name: stage_for(s, params) for s in STEPS}}
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=120)
