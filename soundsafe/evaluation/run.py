"""One evaluation from settings to a report folder: shared by the ``evaluate`` step and ``soundsafe evaluate``.

The output folder (replaced as a whole, atomically) holds ``metrics.json``, ``summary.md``, ``report.html``,
the tables (``quality.csv``, ``robustness.csv``, ``unmarked.csv``, ``recovery.csv``, ``cost.json``), the DVC
plot data (``bit_accuracy.csv``, ``recovery_curve.csv``) and ``figures/*.png``.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from soundsafe.atomic import atomic_dir, write_json, write_text
from soundsafe.evaluation.attack_sets import resolve_set
from soundsafe.evaluation.cost import inference_cost, projection
from soundsafe.evaluation.harness import Clip, parse_points, run_evaluation
from soundsafe.evaluation.report import plot_bit_accuracy, plot_cost, plot_quality, plot_recovery, write_html
from soundsafe.evaluation.summary import (
    excerpt_markdown,
    excerpt_table,
    flat_metrics,
    point_table,
    quality_table,
    recovery_table,
    summary_markdown,
    summary_rows,
    training_validation_metrics,
    training_validation_table,
)
from soundsafe.evaluation.systems import EchoSystem, ExternalSystem, SoundSafeSystem, Watermarker

__all__ = ["EvaluationSettings", "build_systems", "evaluate_to", "external_tool", "missing_external"]


@dataclass
class EvaluationSettings:
    """What to measure (``params.yaml: evaluate``; see there for the meaning of each)."""

    split: str = "test"
    max_seconds: float = 20.0
    max_clips: int = 0
    clip_start: str = "first"
    record: str = "full"
    attacks: str | list[str] = "standard"
    unmarked: list[str] = field(default_factory=lambda: ["clean", "mp3:128k", "white_noise:20dB"])
    recovery_attacks: str | list[str] = field(default_factory=lambda: ["clean", "mp3:128k"])
    recovery_seconds: list[float] = field(default_factory=lambda: [2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0])
    recovery_tries: int = 3
    pesq: bool = True
    baselines: list[str] = field(default_factory=lambda: ["echo", "tse"])
    external: list[Any] = field(default_factory=list)
    cost_seconds: float = 60.0
    threads: int = 1
    workers: int = 1
    seed: int = 0
    projection: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> EvaluationSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known - {"profiles"}
        if unknown:
            raise ValueError(f"evaluate: unknown parameters {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: v for k, v in params.items() if k in known})

    def attack_list(self) -> list[str]:
        return resolve_set(self.attacks) if isinstance(self.attacks, str) else list(self.attacks)

    def recovery_list(self) -> list[str]:
        """``recovery_attacks``: a list, or ``all`` (every attack point of the set)."""
        return self.attack_list() if self.recovery_attacks == "all" else (
            resolve_set(self.recovery_attacks) if isinstance(self.recovery_attacks, str)
            else list(self.recovery_attacks))


def build_systems(settings: EvaluationSettings, model: Any = None,
                  notes: list[str] | None = None) -> list[Watermarker]:
    """SoundSafe, the configured echo baselines and the external tools that are installed (others noted)."""
    from soundsafe.baselines.echo import ECHO, TIME_SPREAD_ECHO
    from soundsafe.baselines.external import missing_tool_hint

    systems: list[Watermarker] = [SoundSafeSystem(model)]
    presets = {"echo": (ECHO, "echo_hiding"), "tse": (TIME_SPREAD_ECHO, "time_spread_echo")}
    for name in settings.baselines:
        if name not in presets:
            raise ValueError(f"unknown baseline {name!r}; known: {', '.join(presets)}")
        systems.append(EchoSystem(presets[name][0], presets[name][1]))
    for spec in settings.external:
        tool = external_tool(spec)
        if tool.available():
            systems.append(ExternalSystem(tool))
        elif notes is not None:
            notes.append(f"external tool {tool.name!r} MISSING (its row reads 'not installed'): "
                         f"{missing_tool_hint(tool)}")
    return systems


def external_tool(spec: str | Mapping[str, Any]) -> Any:
    """An ``evaluate.external`` entry as a tool: ``audiowmark``, ``{name: audiowmark, bin: PATH}`` (the preset
    with another binary), or a full :class:`~soundsafe.baselines.external.ExternalTool` description."""
    from soundsafe.baselines.external import AUDIOWMARK, ExternalTool

    if spec == "audiowmark":
        return AUDIOWMARK
    if not isinstance(spec, Mapping):
        raise ValueError(f"unknown external tool {spec!r}: use 'audiowmark' or a mapping of ExternalTool fields")
    if spec.get("name") == "audiowmark" and set(spec) <= {"name", "bin"}:
        program = str(spec.get("bin") or "audiowmark")
        swap = {k: getattr(AUDIOWMARK, k).replace("audiowmark", shlex.quote(program), 1)
                for k in ("embed", "detect", "detect_speed")}
        return dataclasses.replace(AUDIOWMARK, **swap)
    return ExternalTool(**spec)


def missing_external(settings: EvaluationSettings) -> list[str]:
    """Names of the configured external tools that are not installed (their rows are marked missing)."""
    return [t.name for t in map(external_tool, settings.external) if not t.available()]


def _projection(training: list[dict[str, Any]], phase_batches: Mapping[str, tuple[int, int]],
                full_steps: Mapping[str, int], settings: EvaluationSettings) -> list[dict[str, Any]]:
    prices = settings.projection.get("prices_usd_per_hour", {"a100": 10.04, "t4": 1.5, "cpu": 0.7})
    throughput = settings.projection.get("steps_per_second", {})
    rows = [r for r in training if r["phase"] in full_steps]
    return projection(rows, phase_batches, full_steps, prices, throughput)


def evaluate_to(out_dir: Path, clips: Sequence[Clip], settings: EvaluationSettings, model: Any = None,
                training: list[dict[str, Any]] | None = None,
                phase_batches: Mapping[str, tuple[int, int]] | None = None,
                full_steps: Mapping[str, int] | None = None,
                log_artifacts: Callable[[Path], None] | None = None,
                phase_metrics: Mapping[str, Mapping[str, float]] | None = None) -> tuple[dict[str, float], str]:
    """Run the evaluation and write the report folder; returns (flat metrics, Markdown summary).

    ``phase_metrics``: the training phases' metrics in order; their validation figures (untrained carrier vs
    every phase) go into the summary, the report and the metrics (``train.PHASE.val_*``)."""
    notes: list[str] = []
    systems = build_systems(settings, model, notes)
    points = parse_points(settings.attack_list())
    tables = run_evaluation(clips, systems, points, parse_points(settings.unmarked),
                            parse_points(settings.recovery_list()), settings.recovery_seconds,
                            settings.recovery_tries, with_pesq=settings.pesq, seed=settings.seed,
                            workers=settings.workers)
    soundsafe = systems[0]
    assert isinstance(soundsafe, SoundSafeSystem)
    longest = max(clips, key=lambda c: c.audio.shape[0])
    reps = max(1, math.ceil(settings.cost_seconds * longest.sr / longest.audio.shape[0]))
    cost_audio = np.tile(longest.audio, (reps, 1))[: int(settings.cost_seconds * longest.sr)]
    model_path = model if isinstance(model, (str, Path)) else None
    cost = inference_cost(cost_audio, longest.sr, model_path, threads=settings.threads)
    cost["parameters"] = soundsafe.model.parameter_count()
    training = training or []
    projected = _projection(training, phase_batches or {}, full_steps or {}, settings) if full_steps else []
    metrics = flat_metrics(tables, cost, training, projected)
    validation = training_validation_table(phase_metrics or {})
    metrics.update(training_validation_metrics(phase_metrics or {}))
    bits = {s.name: s.bits_per_second for s in systems}
    missing = missing_external(settings)
    summary = summary_markdown(summary_rows(tables, metrics, bits, missing=missing))
    excerpts = excerpt_table(tables, missing)
    if not tables.recovery.empty:
        summary += ("\nPer attack point: the share of random excerpts that yield the ISRC (for an external tool: "
                    "its 128-bit message, recovered exactly), of whole-clip reads that yield the whole record, "
                    "and bit accuracy.\n\n" + excerpt_markdown(excerpts))
    if not validation.empty:
        summary += ("\nWhat training changed (the phases' own validation: val split, aligned 1 s windows, real "
                    "attacks; bit accuracy %):\n\n" + excerpt_markdown(validation))
    if notes:
        summary += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    summary += ("\nbits: bit accuracy at the read grid the system found (50 % = chance); TPR: marked reads that "
                "the system calls marked, over all attack points; FPR: unmarked reads called marked; ISRC 90 %: "
                "the shortest random excerpt that yields the ISRC in 90 % of tries (— when no length tried "
                "does); full payload needs: one schedule cycle of the clip's record (the audio that carries "
                "all of it).\n")

    points_df, rec = point_table(tables), recovery_table(tables)
    with atomic_dir(out_dir) as tmp:
        figures = tmp / "figures"
        figures.mkdir()
        tables.quality.to_csv(tmp / "quality.csv", index=False)
        tables.robustness.to_csv(tmp / "robustness.csv", index=False)
        tables.unmarked.to_csv(tmp / "unmarked.csv", index=False)
        tables.recovery.to_csv(tmp / "recovery.csv", index=False)
        excerpts.to_csv(tmp / "excerpts.csv", index=False)
        points_df.to_csv(tmp / "bit_accuracy.csv", index=False)
        rec.to_csv(tmp / "recovery_curve.csv", index=False)
        write_json(tmp / "cost.json", {"inference": cost, "training": training, "projection": projected})
        write_json(tmp / "metrics.json", metrics)
        write_text(tmp / "summary.md", summary)
        plot_bit_accuracy(points_df, figures / "bit_accuracy.png")
        plot_quality(tables.quality, figures / "quality.png")
        sections: list[tuple[str, Any]] = [
            ("Summary", summary),
            ("Imperceptibility: mean and 95 % confidence interval over clips", quality_table(tables)),
            ("Excerpts that yield the ISRC / the whole record, per attack point", excerpts),
            ("Bit accuracy vs attack strength", figures / "bit_accuracy.png"),
            ("Imperceptibility per clip", figures / "quality.png"),
        ]
        if not rec.empty:
            plot_recovery(rec, figures / "recovery.png")
            sections.append(("Time to read", figures / "recovery.png"))
        if projected:
            plot_cost(projected, training, figures / "cost.png")
            sections += [("Cost", figures / "cost.png"), ("Cost projection (full profile)",
                                                          pd.DataFrame(projected))]
        if not validation.empty:
            validation.to_csv(tmp / "training_validation.csv", index=False)
            sections.append(("What training changed: validation bit accuracy per phase", validation))
        sections += [("Training cost (measured here)", pd.DataFrame(training)),
                     ("Inference cost", pd.DataFrame([cost])),
                     ("Robustness per attack point", points_df),
                     ("False positives on unmarked audio",
                      tables.unmarked.groupby(["system", "point"]).agg(fpr=("detected", "mean"),
                                                                       reads=("detected", "size")).reset_index()),
                     ("Imperceptibility per clip (table)", tables.quality)]
        write_html(tmp / "report.html", "SoundSafe evaluation", sections)
    if log_artifacts is not None:
        log_artifacts(out_dir)
    return metrics, summary
