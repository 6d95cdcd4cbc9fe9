"""Ship a pipeline run's trained models as the release models inside the package (``soundsafe/models/``).

``python -m soundsafe.release.ship --project DIR [--models watermark,fingerprint]`` takes a project folder where the
pipeline ran (the watermark phases for the watermark model, ``fingerprint_train`` for the encoder) and writes,
replacing what is there:

- ``soundsafe/models/watermark/``: ``model.pt`` (config and weights only), ``onnx/`` (its spectral fp32 graphs and
  ``model.json``) and ``card.json``;
- ``soundsafe/models/fingerprint/``: ``model.pt``, ``encoder.onnx`` + ``encoder.json`` and ``card.json``.

A card says what made the model and what it measured: the data (the corpus's sources and tracks per split), the
profile, every training phase's steps and validation figures, the export's test-split figures, and the commands.
``embed``/``detect``/``verify``/``fingerprint`` use these models when no pipeline model exists.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from soundsafe.atomic import atomic_dir
from soundsafe.checksum import sha256_file
from soundsafe.watermark.default_model import RELEASE_DIR

__all__ = ["ship_fingerprint", "ship_watermark"]

PHASES = ("core", "variable", "hierarchical", "loss_finetune", "realtime")
FINGERPRINT_DIR = RELEASE_DIR.parent / "fingerprint"


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _data_card(project: Path) -> dict[str, Any]:
    import pandas as pd

    from soundsafe.params import load_params, resolve_section

    manifest = pd.read_parquet(project / "data/validated/manifest.parquet")
    params = load_params(project / "params.yaml")
    corpus = resolve_section(params, "corpus")
    source = str(corpus["source"])
    sources = project / source / "sources.csv"
    if source == "debian":  # the corpus step ingested the packages: a track's source is "package/file"
        packages = sorted({str(s).split("/", 1)[0] for s in manifest["source"]})
    elif source != "demo" and sources.is_file():  # a folder of excerpts from soundsafe.release.real_music
        packages = sorted(pd.read_csv(sources)["package"].unique())
    else:
        packages = ["demo"]
    return {"corpus_source": source, "packages": packages, "profile": params.get("profile"),
            "excerpt_seconds": corpus.get("excerpt_seconds"),
            "tracks": {str(k): int(v) for k, v in manifest["split"].value_counts().items()},
            "hours": round(float(manifest["duration_s"].sum()) / 3600, 3)}


def ship_watermark(project: Path, commands: list[str]) -> dict[str, Any]:
    """Copy the project's last phase model into the package with its ONNX export and card; returns the card."""
    import torch

    from soundsafe.watermark.checkpoint import load_model, save_checkpoint
    from soundsafe.watermark.export import export_onnx

    model, _ = load_model(project / "models/watermark/realtime/model.pt")
    with atomic_dir(RELEASE_DIR) as tmp:
        save_checkpoint(tmp / "model.pt", model)  # config and weights: no optimizer or resume state
        export_onnx(model, tmp / "onnx", source=str(tmp / "model.pt"))
        # the spectral fp32 graphs only (what OnnxEngine runs by default, ~0.15 MB): the self-contained graphs
        # (~11 MB, STFT inside ONNX Runtime) and the int8 copies (no faster, less exact) come from `step export`
        for extra in [*(tmp / "onnx").glob("*.int8.onnx"), tmp / "onnx/embedder.onnx", tmp / "onnx/detector.onnx"]:
            extra.unlink()
        card_meta = json.loads((tmp / "onnx/model.json").read_text())
        card_meta["source"] = "model.pt"  # the folder moves: record the name, not the scratch path
        (tmp / "onnx/model.json").write_text(json.dumps(card_meta, indent=2) + "\n")
        sha = sha256_file(tmp / "model.pt")
        card = {
            "id": f"soundsafe-wm-{dt.date.today():%Y%m%d}-{sha[:8]}", "model_sha256": sha,
            "parameters": int(sum(p.numel() for p in model.parameters())), "torch": torch.__version__,
            "data": _data_card(project),
            "phases": {phase: _json(project / f"reports/watermark/{phase}/metrics.json") for phase in PHASES},
            "export": _json(project / "reports/export/metrics.json"),
            "evaluate": _json(project / "reports/evaluate/metrics.json"),
            "commands": commands,
        }
        (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def ship_fingerprint(project: Path, commands: list[str]) -> dict[str, Any]:
    """Copy the project's fingerprint encoder into the package with its ONNX export and card."""
    from soundsafe.fingerprint.data import export_windows
    from soundsafe.fingerprint.export import export_encoder
    from soundsafe.fingerprint.model import load_encoder, save_encoder

    encoder = load_encoder(project / "models/fingerprint/model.pt")
    manifest = project / "data/validated/manifest.parquet"
    check, calibration = export_windows(manifest, encoder.config.window_samples, encoder.config.sample_rate)
    with atomic_dir(FINGERPRINT_DIR) as tmp:
        save_encoder(tmp / "model.pt", encoder)
        parity = export_encoder(encoder, tmp, check, source=tmp / "model.pt", calibration=calibration)
        (tmp / "encoder.int8.onnx").unlink(missing_ok=True)
        card_meta = json.loads((tmp / "encoder.json").read_text())
        card_meta["source"] = "model.pt"
        (tmp / "encoder.json").write_text(json.dumps(card_meta, indent=2) + "\n")
        sha = sha256_file(tmp / "model.pt")
        card = {
            "id": f"soundsafe-fp-{dt.date.today():%Y%m%d}-{sha[:8]}", "model_sha256": sha,
            "parameters": encoder.parameter_count(), "data": _data_card(project),
            "train": _json(project / "reports/fingerprint/train/metrics.json"), "onnx_parity": parity,
            "evaluate": _json(project / "reports/fingerprint/metrics.json"), "commands": commands,
        }
        (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ship a pipeline run's models as the package's release models.")
    parser.add_argument("--project", type=Path, required=True, help="project folder where the pipeline ran")
    parser.add_argument("--command", action="append", default=[],
                        help="a command that produced the run (recorded in the cards; repeatable)")
    parser.add_argument("--models", default="watermark,fingerprint",
                        help="which release models to replace, a comma list (default: both); the other one stays")
    args = parser.parse_args(argv)
    shippers = {"watermark": (ship_watermark, RELEASE_DIR), "fingerprint": (ship_fingerprint, FINGERPRINT_DIR)}
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = sorted(set(names) - set(shippers))
    if unknown or not names:
        parser.error(f"--models {args.models!r}: name watermark and/or fingerprint")
    for name in names:
        ship, folder = shippers[name]
        card = ship(args.project, args.command)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"wrote {folder} ({size / 1e6:.2f} MB): {name} model card {card['id']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
