"""Aggregate the harness's tables: per-system figures with confidence intervals, flat metrics, the summary table."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from soundsafe.evaluation.harness import EvaluationTables
from soundsafe.evaluation.quality import mean_ci

__all__ = [
    "HEADLINE_POINTS",
    "QUALITY_METRICS",
    "excerpt_markdown",
    "excerpt_table",
    "flat_metrics",
    "point_table",
    "recovery_table",
    "seconds_to",
    "summary_markdown",
    "summary_rows",
    "training_validation_metrics",
    "training_validation_table",
]

QUALITY_METRICS = ("snr_db", "si_snr_db", "segmental_snr_db", "lsd_db", "nmr_db", "pesq_wb")
# audio a clip's whole payload takes to carry once (the shortest excerpt that can hold all of it)
PAYLOAD_METRICS = ("payload_cycle_s",)
HEADLINE_POINTS = ("clean", "mp3 128k", "aac 128k", "white_noise 20dB")


def metric_key(text: str) -> str:
    """A label as an MLflow/DVC-safe metric name component (``eq ±6dB`` → ``eq_pm6dB``)."""
    text = text.replace("±", "pm").replace("+", "p").replace("%", "pct").replace(" ", "_")
    return re.sub(r"[^A-Za-z0-9_.-]", "", text)


def point_table(tables: EvaluationTables) -> pd.DataFrame:
    """Per system × attack point: mean bit accuracy, detection rate, ISRC / field / full-payload recovery."""
    r = tables.robustness
    cols = {"bit_acc": "mean", "detected": "mean"}
    for extra in ("isrc_ok", "field_share", "complete"):
        if extra in r.columns:
            cols[extra] = "mean"
    grouped = r.groupby(["system", "family", "attack", "strength", "point"], sort=False).agg(cols).reset_index()
    return grouped.rename(columns={"detected": "tpr"})


def recovery_table(tables: EvaluationTables) -> pd.DataFrame:
    """Per system × attack point × excerpt length: the share of reads that give the ISRC and the full payload."""
    if tables.recovery.empty:
        return pd.DataFrame(columns=["system", "point", "seconds", "isrc_rate", "full_rate", "tries"])
    r = tables.recovery.assign(complete=pd.to_numeric(tables.recovery["complete"], errors="coerce"),
                               isrc_ok=tables.recovery["isrc_ok"].astype(float))
    g = r.groupby(["system", "point", "seconds"], sort=True)
    return g.agg(isrc_rate=("isrc_ok", "mean"), full_rate=("complete", "mean"),
                 tries=("isrc_ok", "size")).reset_index()


def seconds_to(curve: pd.DataFrame, column: str, share: float = 0.9) -> float:
    """The shortest excerpt whose read succeeds in at least ``share`` of tries (NaN when none does)."""
    ok = curve[curve[column] >= share]
    return float(ok["seconds"].min()) if not ok.empty else math.nan


def flat_metrics(tables: EvaluationTables, cost: dict[str, float], training: Sequence[dict[str, Any]],
                 projected: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Everything as flat ``system.metric`` floats (the step's DVC metrics and MLflow metrics)."""
    out: dict[str, float] = {}
    for system, q in tables.quality.groupby("system", sort=False):
        for metric in QUALITY_METRICS:
            if metric in q.columns:
                ci = mean_ci(q[metric].tolist())
                out[f"{system}.{metric}"] = ci.mean
                out[f"{system}.{metric}_ci95"] = (ci.high - ci.low) / 2 if ci.n > 1 else 0.0
        for metric in PAYLOAD_METRICS:
            if metric in q.columns and q[metric].notna().any():
                out[f"{system}.{metric}"] = float(q[metric].mean())
    for row in point_table(tables).to_dict("records"):
        key = f"{row['system']}.{{}}.{metric_key(row['point'])}"
        out[key.format("bit_acc")] = row["bit_acc"]
        out[key.format("tpr")] = row["tpr"]
        for extra in ("isrc_ok", "complete"):
            if extra in row and not pd.isna(row[extra]):
                out[key.format("isrc_rate" if extra == "isrc_ok" else "full_rate")] = row[extra]
    for system, u in tables.unmarked.groupby("system", sort=False):
        out[f"{system}.fpr"] = float(u["detected"].mean())
        out[f"{system}.false_field_reads"] = float((u["fields"] > 0).sum())
    rec = recovery_table(tables)
    for row in rec.to_dict("records"):
        key = f"{row['system']}.excerpt_{{}}.{row['seconds']:g}s.{metric_key(row['point'])}"
        out[key.format("isrc")] = float(row["isrc_rate"])
        if not pd.isna(row["full_rate"]):
            out[key.format("record")] = float(row["full_rate"])
    for (system, point), curve in rec.groupby(["system", "point"], sort=False):
        out[f"{system}.seconds_to_isrc_90.{metric_key(point)}"] = seconds_to(curve, "isrc_rate")
        out[f"{system}.seconds_to_full_90.{metric_key(point)}"] = seconds_to(curve, "full_rate")
    out.update({f"cost.{k}": float(v) for k, v in cost.items()})
    for row in training:
        for k in ("seconds_per_batch", "steps_to_target", "audio_seconds_per_second", "peak_rss_mb"):
            out[f"train.{row['phase']}.{k}"] = float(row[k])
    out["projection.full_usd"] = float(sum(r["usd"] for r in projected))
    out["projection.full_hours"] = float(sum(r["hours"] for r in projected))
    return {k: (round(v, 6) if isinstance(v, float) and not math.isnan(v) else v) for k, v in out.items()}


def _share(values: pd.Series) -> str:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return "—" if v.empty else f"{100 * v.mean():.0f}"


def excerpt_table(tables: EvaluationTables, missing: Sequence[str] = ()) -> pd.DataFrame:
    """Per attack point, side by side for every system that identifies clips: the share of random excerpts of
    each length that yield the ISRC (an external tool: its message, recovered exactly), of whole-clip reads
    that yield the whole record, and bit accuracy; a configured tool that is not installed gets a column that
    says so. Last row: false reads on unmarked audio (clean and attacked)."""
    rec, robust = tables.recovery, tables.robustness
    systems = [s for s in robust["system"].unique() if s in set(rec["system"])]
    lengths = sorted(rec["seconds"].unique()) if not rec.empty else []
    span = " / ".join(f"{x:g}" for x in lengths)
    rows = []
    for point in robust["point"].unique():
        row = {"attack": point}
        for system in systems:
            r = rec[(rec.system == system) & (rec.point == point)]
            cells = [_share(r[r.seconds == x]["isrc_ok"]) for x in lengths]
            what = "ISRC" if system == "soundsafe" else "message"
            row[f"{system}: {what} from {span} s, %"] = " / ".join(cells)
            longest = r[r.seconds == lengths[-1]] if lengths else r
            row[f"{system}: record from {lengths[-1]:g} s, %" if lengths else f"{system}: record"] = \
                _share(longest["complete"])
            b = robust[(robust.system == system) & (robust.point == point)]["bit_acc"]
            row[f"{system}: bits, %"] = f"{100 * b.mean():.1f}" if len(b) else "—"
        for name in missing:
            row[name] = "not installed"
        rows.append(row)
    u = tables.unmarked
    false_row = {"attack": "false reads on unmarked clips (clean + attacked)"}
    for column in rows[0] if rows else []:
        if column == "attack":
            continue
        system = column.split(":")[0]
        mine = u[u.system == system]
        false_row[column] = (f"{int(mine['detected'].sum())} of {len(mine)}" if column.endswith("bits, %")
                             and len(mine) else ("not installed" if system in missing else ""))
    rows.append(false_row)
    return pd.DataFrame(rows)


def excerpt_markdown(table: pd.DataFrame) -> str:
    """:func:`excerpt_table` as Markdown (records: — where a system cannot carry one)."""
    if table.empty:
        return ""
    header = list(table.columns)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def summary_rows(tables: EvaluationTables, metrics: dict[str, float], bits_per_second: dict[str, float],
                 recovery_point: str = "mp3 128k", missing: Sequence[str] = ()) -> list[dict[str, str]]:
    """One row per system: the headline figures as display strings (a missing tool: a row that says so)."""
    points = set(tables.robustness["point"])
    rows = []
    for system in tables.quality["system"].unique():
        def get(key: str, scale: float = 1.0, fmt: str = "{:.1f}", suffix: str = "", system: str = system) -> str:
            value = metrics.get(f"{system}.{key}")
            return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else \
                fmt.format(value * scale) + suffix
        def with_ci(key: str, fmt: str = "{:.1f}", system: str = system) -> str:
            half = metrics.get(f"{system}.{key}_ci95")
            return get(key, fmt=fmt) + (f" ± {fmt.format(half)}" if half else "")

        row = {"system": system, "bits/s": f"{bits_per_second.get(system, math.nan):.0f}",
               "SNR dB": with_ci("snr_db"), "NMR dB": with_ci("nmr_db"), "PESQ": with_ci("pesq_wb", "{:.2f}")}
        for point in HEADLINE_POINTS:
            if point in points:
                row[f"bits {point}"] = get(f"bit_acc.{metric_key(point)}", 100, suffix=" %")
        row["TPR (mean)"] = f"{100 * tables.robustness[tables.robustness.system == system]['detected'].mean():.0f} %"
        row["FPR"] = get("fpr", 100, fmt="{:.0f}", suffix=" %")
        row[f"ISRC 90 % ({recovery_point})"] = get(f"seconds_to_isrc_90.{metric_key(recovery_point)}",
                                                   fmt="{:g}", suffix=" s")
        row["full payload needs"] = get("payload_cycle_s", fmt="{:.0f}", suffix=" s")
        rows.append(row)
    for name in missing:
        rows.append({key: (name if key == "system" else "not installed") for key in (rows[0] if rows else
                                                                                       {"system": name})})
    return rows


def quality_table(tables: EvaluationTables) -> pd.DataFrame:
    """Per system × metric: mean, 95 % confidence interval and number of clips."""
    rows = []
    for system, q in tables.quality.groupby("system", sort=False):
        for metric in QUALITY_METRICS:
            if metric in q.columns:
                rows.append({"system": system, "metric": metric, **mean_ci(q[metric].tolist()).to_dict()})
    return pd.DataFrame(rows)


# the training phases' validation reads (soundsafe.watermark.train): column label → metric suffix
VALIDATION_COLUMNS = (("clean", "bit_acc_clean"), ("MP3 128k", "bit_acc_mp3_128k"), ("MP3 64k", "bit_acc_mp3_64k"),
                      ("AAC 128k", "bit_acc_aac_128k"), ("noise 20 dB", "bit_acc_noise_20db"),
                      ("mean under attack", "bit_acc_robust"))


def _validated_models(phase_metrics: Mapping[str, Mapping[str, float]]) -> list[tuple[str, str, str, Mapping]]:
    """(metric name, display label, metric key prefix, the phase's metrics) for the untrained carrier (the first
    phase's starting model) and the model each phase kept, in order; phases without validation figures are left
    out."""
    found = []
    for i, (phase, m) in enumerate(phase_metrics.items()):
        for name, label, prefix in ([("untrained", "untrained carrier", "start_val_")] if i == 0 else []) + [
                (phase, phase, "val_")]:
            if f"{prefix}bit_acc_robust" in m:
                found.append((name, label, prefix, m))
    return found


def training_validation_table(phase_metrics: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """What training changed: validation bit accuracy (%, val split, aligned 1 s windows, real attacks) and SNR
    of the untrained carrier (the first phase's starting model) and of the model each phase kept, in order."""
    rows = []
    for _, label, prefix, m in _validated_models(phase_metrics):
        row: dict[str, Any] = {"model": label}
        for column, suffix in VALIDATION_COLUMNS:
            value = m.get(prefix + suffix)
            row[column] = round(100 * float(value), 1) if value is not None else math.nan
        row["SNR dB"] = round(float(m.get(prefix + "snr_db", math.nan)), 1)
        row["kept step"] = 0 if prefix == "start_val_" else int(m.get("best_step", -1))
        rows.append(row)
    return pd.DataFrame(rows)


def training_validation_metrics(phase_metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The same figures as flat metrics, ``train.untrained.val_*`` and ``train.PHASE.val_*`` (fractions)."""
    return {f"train.{name}.val_{suffix}": float(m[prefix + suffix])
            for name, _, prefix, m in _validated_models(phase_metrics)
            for _, suffix in VALIDATION_COLUMNS if prefix + suffix in m}


def summary_markdown(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no systems evaluated)\n"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r.get(h, "—") for h in header) + " |" for r in rows]
    return "\n".join(lines) + "\n"
