"""Does training matter? The trained phases against the untrained carrier at equal imperceptibility.

    python benchmarks/training_effect.py [--manifest data/validated/manifest.parquet]
                                         [--margins 0.6,0.8,1.0,1.2,1.6,2.0] [--models PHASE_OR_FILE ...]

A louder mark reads better, so a trained model is compared with the untrained informed carrier *at the same
SNR*: the carrier is validated at a ladder of margins (its robustness-vs-SNR curve), every phase's kept model
(``models/watermark/PHASE/model.pt``) on the same windows, bits and real attacks as the phases' own validation
(val split, aligned 1 s windows: clean, MP3 128k / 64k, AAC 128k, white noise 20 dB), and each model's figures
are set against the carrier's curve interpolated at that model's SNR. Writes ``reports/benchmarks/
training_effect.{json,png}`` and prints the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

PHASES = ("core", "variable", "hierarchical", "loss_finetune", "realtime")
ATTACKS = ("clean", "mp3_128k", "mp3_64k", "aac_128k", "noise_20db", "robust")


def carrier_at(curve: list[dict[str, float]], snr_db: float, key: str) -> float:
    """The carrier's ``key`` figure at ``snr_db``, linear between the ladder's points (NaN outside it)."""
    points = sorted(curve, key=lambda m: m["val_snr_db"])
    snrs = [m["val_snr_db"] for m in points]
    if not snrs[0] <= snr_db <= snrs[-1]:
        return float("nan")
    return float(np.interp(snr_db, snrs, [m[f"val_bit_acc_{key}"] for m in points]))


def _plot(curve: list[dict[str, float]], models: dict[str, dict[str, float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key, title in ((axes[0], "noise_20db", "after white noise at 20 dB SNR"),
                           (axes[1], "robust", "mean over the validation attacks")):
        points = sorted(curve, key=lambda m: m["val_snr_db"])
        ax.plot([m["val_snr_db"] for m in points], [100 * m[f"val_bit_acc_{key}"] for m in points], "o-",
                color="grey", label="untrained carrier (margin in dB)")
        for m in points:
            ax.annotate(f"{m['margin_db']:g}", (m["val_snr_db"], 100 * m[f"val_bit_acc_{key}"]), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
        for i, (name, m) in enumerate(models.items()):  # shrinking markers: phases that kept a model overlap
            ax.plot(m["val_snr_db"], 100 * m[f"val_bit_acc_{key}"], "sD^vP"[i % 5], markersize=11 - 1.5 * (i % 5),
                    label=name)
        ax.set(xlabel="mark SNR, dB (mean over windows)", ylabel="bit accuracy, %", title=title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path("data/validated/manifest.parquet"))
    parser.add_argument("--margins", default="0.6,0.8,1.0,1.2,1.6,2.0",
                        help="carrier margins in dB, a comma list (default 0.6…2.0)")
    parser.add_argument("--models", nargs="*", default=None,
                        help="phase names or model files (default: every phase the pipeline trained)")
    parser.add_argument("--windows", type=int, default=32, help="validation windows (the phases use 32 at local)")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    args = parser.parse_args(argv)

    import dataclasses

    import torch

    from soundsafe.atomic import write_json
    from soundsafe.watermark.checkpoint import load_model
    from soundsafe.watermark.config import ModelConfig
    from soundsafe.watermark.model import build_model
    from soundsafe.watermark.train import validation_figures

    torch.set_num_threads(1)
    names = args.models if args.models is not None else [
        p for p in PHASES if Path(f"models/watermark/{p}/model.pt").is_file()]
    models, configs = {}, []
    for name in names:
        path = Path(f"models/watermark/{name}/model.pt") if name in PHASES else Path(name)
        model, _ = load_model(path)
        configs.append(model.config)
        models[name] = {"margin_db": model.config.margin_db,
                        **validation_figures(model, args.manifest, args.windows)}
    base = configs[0] if configs else ModelConfig()  # the carrier differs from the models in its margin only
    curve = []
    for margin in (float(m) for m in args.margins.split(",") if m.strip()):
        carrier = build_model(dataclasses.replace(base, margin_db=margin))
        curve.append({"margin_db": margin, **validation_figures(carrier, args.manifest, args.windows)})

    header = ["model", "margin dB", "SNR dB", *ATTACKS, "noise 20 dB: carrier at equal SNR",
              "mean: carrier at equal SNR"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for name, m in [*((f"carrier {c['margin_db']:g} dB", c) for c in curve), *models.items()]:
        equal = [carrier_at(curve, m["val_snr_db"], k) for k in ("noise_20db", "robust")]
        cells = [name, f"{m['margin_db']:g}", f"{m['val_snr_db']:.1f}",
                 *(f"{100 * m[f'val_bit_acc_{k}']:.1f}" for k in ATTACKS),
                 *("—" if np.isnan(e) or name.startswith("carrier") else f"{100 * e:.1f}" for e in equal)]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "training_effect.json", {"carrier": curve, "models": models})
    _plot(curve, models, args.out / "training_effect.png")
    print(f"wrote {args.out / 'training_effect.json'} and {args.out / 'training_effect.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
