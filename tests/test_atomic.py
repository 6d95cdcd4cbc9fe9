"""Atomic writes: a failure leaves the previous artifact intact and no temporary litter."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundsafe.atomic import atomic_dir, write_json


def test_failed_folder_write_keeps_the_old_folder(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("crash mid-write")
    assert (dest / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_folder_write_replaces_contents(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("1")
    with atomic_dir(dest) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in dest.iterdir()) == ["b.txt"]


def test_json_is_written_whole(tmp_path: Path) -> None:
    write_json(tmp_path / "m.json", {"x": 1})
    with pytest.raises(TypeError):
        write_json(tmp_path / "m.json", {"x": object()})
    assert (tmp_path / "m.json").read_text() == '{\n  "x": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
