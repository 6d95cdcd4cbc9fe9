"""Fast start: `--help`, `detect` and `fingerprint identify` import only what they need (no torch on the ONNX path,
no MLflow, DVC, kfp, Great Expectations, pandas or matplotlib). Times are measured by benchmarks/startup.py,
not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HEAVY = ("torch", "pandas", "mlflow", "dvc", "kfp", "great_expectations", "matplotlib", "azure.ai.ml", "scipy.signal")
ROOT = Path(__file__).resolve().parents[1]


def _imported_by(argv: list[str], cwd: Path) -> tuple[int, set[str]]:
    """Exit code and the heavy modules that running ``soundsafe ARGV`` in a fresh interpreter imported."""
    script = (f"import sys, json\nfrom soundsafe.cli.main import main\nrc = main({argv!r})\n"
              f"print(json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules]]))")
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rc, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    return rc, set(heavy)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s marked clip (release model) and a fingerprint index of it, in a folder without pipeline models."""
    import soundfile as sf

    from soundsafe.fingerprint.data import Track
    from soundsafe.fingerprint.encoders import choose_encoder, load_any_encoder
    from soundsafe.fingerprint.index import FingerprintIndex
    from soundsafe.watermark.api import embed
    from soundsafe.watermark.default_model import choose_model

    folder = tmp_path_factory.mktemp("fast")
    rng = np.random.default_rng(1)
    t = np.arange(4 * 44100) / 44100
    audio = (0.2 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.03 * rng.standard_normal(t.size))
    record = json.loads((ROOT / "tests/data/sample_meta.json").read_text())
    marked = embed(audio.astype(np.float32)[:, None], 44100, record, model=choose_model(root=folder))
    sf.write(folder / "clip.wav", marked, 44100)
    encoder = load_any_encoder(choose_encoder(root=folder))
    track = Track("clip", "clip", "", np.interp(np.arange(4 * 16000) / 16000, t, audio).astype(np.float32))
    FingerprintIndex.build(encoder, [track]).save(folder / "index")
    return folder / "clip.wav"


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    script = ("import sys\nfrom soundsafe.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
              "    pass\nprint([m for m in ('numpy', 'torch', 'pandas', 'onnxruntime') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-500:]


def test_detect_on_the_release_model_runs_without_torch(clip: Path) -> None:
    rc, heavy = _imported_by(["detect", str(clip), "--quiet"], clip.parent)
    assert rc in (0, 3) and not heavy, heavy


def test_identify_runs_without_torch(clip: Path) -> None:
    rc, heavy = _imported_by(["fingerprint", "identify", str(clip), "--index", str(clip.parent / "index")],
                             clip.parent)
    assert rc == 0 and not heavy, heavy
