"""The errors a command reports as "the work failed" (exit 1), in one light module.

They live here, not beside the code that raises them, so the command line can catch them without importing
pandas, yaml or Great Expectations for commands that never touch those (fast start).
"""

from __future__ import annotations

__all__ = ["DataValidationError", "IngestError", "ManifestError", "ParamsError"]


class ParamsError(ValueError):
    """params.yaml is missing, malformed, or names an unknown profile/section/key."""


class ManifestError(ValueError):
    """A manifest is missing, unreadable, or lacks required columns."""


class IngestError(ValueError):
    """The source folder or metadata CSV cannot be ingested."""


class DataValidationError(RuntimeError):
    """The data failed validation; the message is the readable summary."""
