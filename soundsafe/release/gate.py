"""The release gate: does an evaluation meet ``params.yaml: register.gate``? (Shared by the ``register`` step and
the Kubeflow pipeline's ``dsl.If``.)"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["gate_failures"]


def gate_failures(metrics: Mapping[str, float], gate: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Why ``metrics`` fail ``gate`` (``{"min": {key: bound}, "max": {key: bound}}``); empty when they pass.

    A metric the evaluation did not produce (or produced as NaN) fails: a gate must not pass by omission.
    """
    failures = []
    for kind, bounds in (("min", gate.get("min", {})), ("max", gate.get("max", {}))):
        for key, bound in bounds.items():
            value: Any = metrics.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                failures.append(f"{key}: not measured (gate {kind} {bound})")
            elif (kind == "min" and value < bound) or (kind == "max" and value > bound):
                failures.append(f"{key} = {value:.4g}, needs {'≥' if kind == 'min' else '≤'} {bound}")
    return failures
