"""What a step's entry function receives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundsafe.steps.registry import Step
from soundsafe.tracking import StepRun

__all__ = ["StepContext"]


@dataclass
class StepContext:
    """A step's resolved params (one dict per section it declares), the project root, and its MLflow run."""

    step: Step
    params: dict[str, dict[str, Any]]
    profile: str
    root: Path
    run: StepRun

    def path(self, relative: str) -> Path:
        """A declared artifact path, resolved against the project root."""
        return self.root / relative
