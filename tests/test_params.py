"""params.yaml profiles: resolution, typo protection, and switching the active profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsafe.params import PROFILES, ParamsError, load_params, resolve_section, set_profile

ROOT = Path(__file__).resolve().parents[1]


def test_project_params_resolve_for_every_profile() -> None:
    params = load_params(ROOT / "params.yaml")
    sizes = {p: resolve_section(params, "corpus", p) for p in PROFILES}
    # ci stays synthetic and tiny; local and full run on the real-music packages, local on excerpts of them
    assert sizes["ci"]["source"] == "demo" and sizes["ci"]["tracks"] * sizes["ci"]["seconds"] <= 60
    assert sizes["local"]["source"] == sizes["full"]["source"] == "debian"
    assert 0 < sizes["local"]["excerpt_seconds"] and sizes["full"]["excerpt_seconds"] == 0
    assert not any(p.startswith(("hyperrogue-music", "wesnoth")) for p in sizes["full"]["packages"])  # reserved
    assert "profiles" not in sizes["ci"]


def test_overrides_merge_into_defaults() -> None:
    params = {"profile": "ci", "s": {"a": 1, "nested": {"x": 1, "y": 2}, "profiles": {"ci": {"nested": {"y": 5}}}}}
    assert resolve_section(params, "s") == {"a": 1, "nested": {"x": 1, "y": 5}}
    assert resolve_section(params, "s", "full") == {"a": 1, "nested": {"x": 1, "y": 2}}


def test_a_typo_in_a_profile_fails_loudly() -> None:
    params = {"profile": "ci", "s": {"tracks": 1, "profiles": {"ci": {"trakcs": 2}}}}
    with pytest.raises(ParamsError, match=r"s\.profiles\.ci\.trakcs"):
        resolve_section(params, "s")


def test_unknown_profile_and_section(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("profile: huge\n")
    with pytest.raises(ParamsError, match=r"huge.*ci, local, full"):
        load_params(bad)
    with pytest.raises(ParamsError, match="no section 'nope'"):
        resolve_section({"profile": "ci"}, "nope")
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_set_profile_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("# keep me\nprofile: local  # active\ncorpus: {tracks: 1}\n")
    assert set_profile(path, "ci") is True
    assert path.read_text() == "# keep me\nprofile: ci  # active\ncorpus: {tracks: 1}\n"
    assert set_profile(path, "ci") is False
    with pytest.raises(ParamsError):
        set_profile(path, "huge")
