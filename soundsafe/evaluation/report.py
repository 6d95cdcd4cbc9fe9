"""The report people look at: PNG figures (matplotlib), plot data as CSV (DVC plots), one self-contained HTML.

Figures: bit accuracy against attack strength per attack family, SNR / NMR / PESQ distributions per system,
recovery curves (share of excerpts that yield the ISRC and the full payload against excerpt length), and the
cost breakdown (projected full-scale dollars per phase beside the seed plan's estimate; seconds per batch).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["plot_bit_accuracy", "plot_cost", "plot_quality", "plot_recovery", "write_html"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def plot_bit_accuracy(points: pd.DataFrame, path: Path) -> None:
    """One panel per attack family: bit accuracy (%) at each strength, a line per system × attack."""
    plt = _pyplot()
    data = points[points["family"] != "clean"]
    families = list(dict.fromkeys(data["family"])) or ["clean"]
    cols = min(3, len(families))
    rows = math.ceil(len(families) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    clean = points[points["family"] == "clean"].set_index("system")["bit_acc"]
    for ax, family in zip(axes.flat, families, strict=False):
        sub = data[data["family"] == family]
        for (system, attack), line in sub.groupby(["system", "attack"], sort=False):
            ax.plot(line["strength"], 100 * line["bit_acc"], marker="o", label=f"{system}: {attack}")
        for value in clean.to_numpy():
            ax.axhline(100 * value, lw=0.6, ls=":", color="grey")
        ax.axhline(50, lw=0.8, color="black", alpha=0.3)
        ax.set_title(family)
        ax.set_ylim(40, 101)
        ax.set_ylabel("bit accuracy (%)")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(families):]:
        ax.axis("off")
    fig.suptitle("Bit accuracy vs attack strength (dotted: clean; 50 % = chance)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_quality(quality: pd.DataFrame, path: Path) -> None:
    """Box plots of SNR, NMR and PESQ per system (one dot per clip)."""
    plt = _pyplot()
    metrics = [m for m in ("snr_db", "nmr_db", "pesq_wb") if m in quality.columns]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.6), squeeze=False)
    systems = list(dict.fromkeys(quality["system"]))
    for ax, metric in zip(axes.flat, metrics, strict=True):
        values = [quality.loc[quality.system == s, metric].dropna().to_numpy() for s in systems]
        ax.boxplot(values, tick_labels=systems)
        for i, v in enumerate(values, start=1):
            ax.scatter([i] * len(v), v, s=10, alpha=0.6)
        ax.set_title({"snr_db": "SNR (dB, higher = quieter)", "nmr_db": "NMR (dB, < 0 = masked)",
                      "pesq_wb": "PESQ wideband (1–4.64)"}[metric])
        if metric == "nmr_db":
            ax.axhline(0, color="red", lw=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_recovery(recovery: pd.DataFrame, path: Path) -> None:
    """Share of excerpts read (ISRC solid, full payload dashed) against excerpt length."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (system, point), curve in recovery.groupby(["system", "point"], sort=False):
        line = ax.plot(curve["seconds"], 100 * curve["isrc_rate"], marker="o", label=f"{system} ISRC, {point}")
        ax.plot(curve["seconds"], 100 * curve["full_rate"], ls="--", marker="x", color=line[0].get_color(),
                label=f"{system} full payload, {point}")
    ax.axhline(90, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("excerpt length (s), random start")
    ax.set_ylabel("reads that succeed (%)")
    ax.set_ylim(-2, 102)
    ax.set_title("Time to read: ISRC and the full payload")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_cost(projected: Sequence[dict[str, Any]], training: Sequence[dict[str, Any]], path: Path) -> None:
    """Left: projected full-scale USD per phase vs the seed's range. Right: seconds per batch measured here."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    phases = [r["phase"] for r in projected]
    x = range(len(phases))
    left.bar([i - 0.2 for i in x], [r["usd"] for r in projected], width=0.4, label="projected (this model)")
    low = [r["seed_usd_low"] for r in projected]
    high = [r["seed_usd_high"] for r in projected]
    left.bar([i + 0.2 for i in x], high, width=0.4, alpha=0.35, label="seed plan (high)")
    left.bar([i + 0.2 for i in x], low, width=0.4, alpha=0.6, label="seed plan (low)")
    left.set_xticks(list(x), phases, rotation=20)
    left.set_yscale("log")
    left.set_ylabel("USD at full scale")
    left.legend(fontsize=8)
    left.set_title("Cost projection per phase")
    right.bar([r["phase"] for r in training], [1000 * r["seconds_per_batch"] for r in training])
    right.set_ylabel("ms per training batch (measured here)")
    right.tick_params(axis="x", labelrotation=20)
    right.set_title("Time per batch")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="t", na_rep="—")


def write_html(path: Path, title: str, sections: Sequence[tuple[str, str | pd.DataFrame | Path]]) -> None:
    """A self-contained HTML page: each section a heading with Markdown-free text, a table, or a PNG."""
    from soundsafe.atomic import write_text

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
             "table.t{border-collapse:collapse;font-size:13px}table.t td,table.t th{padding:3px 8px;"
             "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(body, pd.DataFrame):
            parts.append(_table(body))
        elif isinstance(body, Path):
            data = base64.b64encode(body.read_bytes()).decode("ascii")
            parts.append(f"<img alt='{html.escape(heading)}' src='data:image/png;base64,{data}'>")
        else:
            parts.append(f"<pre>{html.escape(body)}</pre>")
    parts.append("</body></html>")
    write_text(path, "\n".join(parts))
