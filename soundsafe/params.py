"""``params.yaml``: one section per step, each with defaults and optional per-profile overrides.

Layout::

    profile: local            # active profile: ci | local | full
    corpus:                   # a step's section: its defaults ...
      seed: 1234
      tracks: 60
      profiles:               # ... and what each profile changes
        ci: {tracks: 8}

:func:`resolve_section` merges the active profile's overrides into the defaults. Overrides may only change keys
that the defaults declare, so a typo in a profile fails loudly instead of being ignored.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml

from soundsafe.errors import ParamsError

__all__ = ["PROFILES", "ParamsError", "load_params", "resolve_section", "section_spec", "set_profile"]

PROFILES = ("ci", "local", "full")

_Spec = TypeVar("_Spec")


def section_spec(cls: type[_Spec], params: dict[str, Any], section: str) -> _Spec:
    """Dataclass ``cls`` from a resolved params section; a key it does not declare is a ``ValueError`` naming the
    section and the known keys (a typo fails loudly instead of being ignored)."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"{section}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    return cls(**params)


def load_params(path: str | os.PathLike[str] = "params.yaml") -> dict[str, Any]:
    """Read ``params.yaml`` and check the active profile is known."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: not found. Run from the project root or pass --params PATH.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of step sections at the top level")
    profile = data.get("profile", "local")
    if profile not in PROFILES:
        raise ParamsError(f"{path}: profile {profile!r} is unknown; choose one of {', '.join(PROFILES)}")
    return data


def resolve_section(params: dict[str, Any], section: str, profile: str | None = None) -> dict[str, Any]:
    """Return ``section``'s defaults with the (given or active) profile's overrides merged in."""
    profile = profile or params.get("profile", "local")
    if profile not in PROFILES:
        raise ParamsError(f"profile {profile!r} is unknown; choose one of {', '.join(PROFILES)}")
    if section not in params or not isinstance(params[section], dict):
        raise ParamsError(f"params.yaml has no section {section!r}")
    raw = copy.deepcopy(params[section])
    overrides = (raw.pop("profiles", None) or {}).get(profile) or {}
    _merge(raw, overrides, where=f"{section}.profiles.{profile}")
    return raw


def _merge(base: dict[str, Any], overrides: dict[str, Any], where: str) -> None:
    for key, value in overrides.items():
        if key not in base:
            raise ParamsError(f"params.yaml: {where}.{key} overrides a key that {where.split('.')[0]} does not define")
        if isinstance(base[key], dict) and isinstance(value, dict):
            _merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = value


def set_profile(path: str | os.PathLike[str], profile: str) -> bool:
    """Set ``profile:`` in params.yaml in place (comments kept). Returns True when it changed."""
    if profile not in PROFILES:
        raise ParamsError(f"profile {profile!r} is unknown; choose one of {', '.join(PROFILES)}")
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(r"(?m)^profile:[ \t]*[\w-]+", f"profile: {profile}", text, count=1)
    if count == 0:
        raise ParamsError(f"{path}: no top-level 'profile:' line to change")
    if new == text:
        return False
    from soundsafe.atomic import write_text

    write_text(path, new)
    return True
