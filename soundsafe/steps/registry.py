"""The step registry: every pipeline step declared once.

A :class:`Step` names its inputs, outputs, the ``params.yaml`` sections it reads and its hardware class. The
orchestrator adapters (``dvc.yaml`` now; Kubeflow and Azure ML later) are rendered from this table, never
written by hand, so they cannot drift apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["HARDWARE_CLASSES", "STEPS", "Step", "edges", "get_step", "topological_order"]

Hardware = Literal["cpu", "a100", "t4"]
HARDWARE_CLASSES: tuple[Hardware, ...] = ("cpu", "a100", "t4")


@dataclass(frozen=True)
class Step:
    """One pipeline step: a command (``soundsafe step NAME``) over declared artifacts."""

    name: str
    description: str
    entry: str  # "module:function" taking a StepContext and returning metrics
    hardware: Hardware
    params: tuple[str, ...]  # params.yaml sections read
    deps: tuple[str, ...] = ()  # artifact paths produced by other steps (or user data)
    outs: tuple[str, ...] = ()  # artifact paths this step produces (cached by DVC)
    code: tuple[str, ...] = ()  # source folders whose change should re-run the step
    metrics: str | None = None  # metrics JSON written by the runner from the entry's return value
    reports: tuple[str, ...] = ()  # human-readable artifacts (not cached; kept on failure too)
    plots: tuple[tuple[str, str, str], ...] = ()  # (CSV path, x column, y column) for `dvc plots`, not cached

    def load(self) -> Callable[[Any], dict[str, float]]:
        """Import and return the step's entry function (imports stay lazy: heavy deps load per step)."""
        module, _, func = self.entry.partition(":")
        return getattr(importlib.import_module(module), func)


# The watermark modules training depends on: inference-side code (api, streaming, sync, engine, export) can
# change without retraining five phases.
TRAINING_CODE = tuple(f"soundsafe/watermark/{name}.py" for name in (
    "carrier", "checkpoint", "config", "data", "layout", "model", "psychoacoustic", "spectral", "step", "train"))

STEPS: tuple[Step, ...] = (
    Step(
        name="corpus",
        description="Render the demo corpus from music21 scores (or ingest a folder of audio) into a manifest.",
        entry="soundsafe.corpus.step:run",
        hardware="cpu",
        params=("corpus",),
        outs=("data/corpus",),
        code=("soundsafe/corpus", "soundsafe/audio", "soundsafe/payload", "soundsafe/manifest.py"),
        metrics="reports/corpus/metrics.json",
    ),
    Step(
        name="validate",
        description="Check the manifest and audio statistics with Great Expectations; stop on bad data.",
        entry="soundsafe.validation.step:run",
        hardware="cpu",
        params=("validate",),
        deps=("data/corpus",),
        outs=("data/validated",),
        code=("soundsafe/validation", "soundsafe/payload", "soundsafe/manifest.py"),
        metrics="reports/validate/metrics.json",
        reports=("reports/validate/report.json", "reports/validate/files.csv"),
    ),
    *(
        Step(
            name=phase,
            description=description,
            entry="soundsafe.watermark.step:run",
            hardware=hardware,
            params=("watermark", phase),
            # the validated manifest points at the corpus's audio: both travel with the step
            deps=("data/corpus", "data/validated", *((f"models/watermark/{previous}",) if previous else ())),
            outs=(f"models/watermark/{phase}",),
            code=(*TRAINING_CODE, "soundsafe/attacks", "soundsafe/payload"),
            metrics=f"reports/watermark/{phase}/metrics.json",
        )
        for phase, previous, hardware, description in (
            ("core", None, "a100", "Train phase 1: the core layer (ISRC), clean and light attacks."),
            ("variable", "core", "a100", "Train phase 2: packets of every type from real encoded records."),
            ("hierarchical", "variable", "a100",
             "Train phase 3: misaligned reads (sync under crops and offsets); attack strength ramps up."),
            ("loss_finetune", "hierarchical", "t4",
             "Train phase 4: priority-weighted bit loss (core and headers first), perceptual weights tuned."),
            ("realtime", "loss_finetune", "t4",
             "Train phase 5: random start offsets and layered real-world attacks, codecs in the loop."),
        )
    ),
    Step(
        name="export",
        description="Export the trained model to ONNX (+ int8); check it against PyTorch on the test split and "
                    "time torch, ONNX and int8 embed/detect on one core, and the streaming detector.",
        entry="soundsafe.watermark.export_step:run",
        hardware="cpu",
        params=("export",),
        deps=("data/corpus", "data/validated", "models/watermark/realtime"),
        outs=("models/onnx",),
        code=("soundsafe/watermark", "soundsafe/payload"),
        metrics="reports/export/metrics.json",
        reports=("reports/export/engines.csv",),
    ),
    Step(
        name="evaluate",
        description="Evaluate the model and the echo baselines on the test split: imperceptibility, robustness "
                    "per attack, cost; write the HTML report.",
        entry="soundsafe.evaluation.step:run",
        hardware="cpu",
        params=("evaluate", "core", "variable", "hierarchical", "loss_finetune", "realtime"),
        deps=("data/corpus", "data/validated", "models/watermark/realtime",
              *(f"reports/watermark/{p}/metrics.json"
                for p in ("core", "variable", "hierarchical", "loss_finetune", "realtime"))),
        code=("soundsafe/evaluation", "soundsafe/baselines", "soundsafe/watermark", "soundsafe/attacks",
              "soundsafe/payload"),
        metrics="reports/evaluate/metrics.json",
        plots=(("reports/evaluate/bit_accuracy.csv", "point", "bit_acc"),
               ("reports/evaluate/recovery_curve.csv", "seconds", "isrc_rate")),
    ),
    Step(
        name="fingerprint_train",
        description="Train the concert-robust fingerprint encoder (contrastive, concert degradations, hard "
                    "negatives); export it to ONNX + int8.",
        entry="soundsafe.fingerprint.step:run_train",
        hardware="a100",
        params=("fingerprint", "fingerprint_train"),
        deps=("data/corpus", "data/validated"),
        outs=("models/fingerprint",),
        code=("soundsafe/fingerprint", "soundsafe/attacks"),
        metrics="reports/fingerprint/train/metrics.json",
    ),
    Step(
        name="fingerprint_index",
        description="Embed every catalog track's windows into the FAISS index (exact, or IVF-PQ at scale).",
        entry="soundsafe.fingerprint.step:run_index",
        hardware="cpu",
        params=("fingerprint_index",),
        deps=("data/corpus", "data/validated", "models/fingerprint"),
        outs=("models/fingerprint_index",),
        code=("soundsafe/fingerprint",),
        metrics="reports/fingerprint/index/metrics.json",
    ),
    Step(
        name="fingerprint_evaluate",
        description="Top-1/Top-5/MRR vs SNR and query length and streaming metrics, this model beside Chromaprint "
                    "and a landmark fingerprinter.",
        entry="soundsafe.fingerprint.step:run_evaluate",
        hardware="cpu",
        params=("fingerprint_evaluate",),
        deps=("data/corpus", "data/validated", "models/fingerprint", "models/fingerprint_index"),
        code=("soundsafe/fingerprint", "soundsafe/attacks"),
        metrics="reports/fingerprint/metrics.json",
        reports=("reports/fingerprint/summary.md", "reports/fingerprint/top1_vs_snr.png"),
        plots=(("reports/fingerprint/retrieval.csv", "snr_db", "top1"),),
    ),
    Step(
        name="nnw_mark",
        description="Mark the fingerprint encoder with the owner's key (white-box: a keyed projection of one "
                    "layer's weights, closed form + a short fine-tune with the mark's regulariser); export ONNX.",
        entry="soundsafe.nnw.step:run_mark",
        hardware="t4",
        params=("nnw", "fingerprint_train"),
        deps=("data/corpus", "data/validated", "models/fingerprint"),
        outs=("models/nnw",),
        code=("soundsafe/nnw", "soundsafe/fingerprint"),
        metrics="reports/nnw/mark/metrics.json",
    ),
    Step(
        name="nnw_evaluate",
        description="MPAI-NNW evaluation of the mark: task quality marked vs unmarked, bit errors per weight "
                    "modification, false positives over unmarked models, cost.",
        entry="soundsafe.nnw.step:run_evaluate",
        hardware="cpu",
        params=("nnw", "nnw_evaluate", "fingerprint_train"),
        deps=("data/corpus", "data/validated", "models/fingerprint", "models/nnw"),
        code=("soundsafe/nnw", "soundsafe/fingerprint"),
        metrics="reports/nnw/metrics.json",
        reports=("reports/nnw/summary.md", "reports/nnw/robustness.png", "reports/nnw/unmarked_tag_errors.png"),
        plots=(("reports/nnw/robustness.csv", "strength", "ber"),),
    ),
    Step(
        name="attribution_train",
        description="Mark training music with hidden echoes (single and keyed time-spread) and train small "
                    "generative models (DDSP-style, RAVE-like VAE) on marked and on clean music.",
        entry="soundsafe.attribution.step:run_train",
        hardware="t4",
        params=("attribution",),
        deps=("data/corpus", "data/validated"),
        outs=("models/attribution",),
        code=("soundsafe/attribution", "soundsafe/splits.py"),
        metrics="reports/attribution/train/metrics.json",
    ),
    Step(
        name="attribution_evaluate",
        description="Read the echoes in what each model makes from never-marked music: cepstral z-scores, AUC and "
                    "false attribution, after MP3 too; the marks' cost and the models' quality.",
        entry="soundsafe.attribution.step:run_evaluate",
        hardware="cpu",
        params=("attribution_evaluate",),
        deps=("data/corpus", "data/validated", "models/attribution"),
        code=("soundsafe/attribution", "soundsafe/splits.py", "soundsafe/attacks/codecs.py",
              "soundsafe/evaluation/quality.py", "soundsafe/watermark/psychoacoustic.py"),
        metrics="reports/attribution/metrics.json",
        reports=("reports/attribution/summary.md", "reports/attribution/zscores.png", "reports/attribution/roc.png"),
        plots=(("reports/attribution/attribution.csv", "mark", "auc"),),
    ),
    Step(
        name="cloak",
        description="Protective noise (HarmonyCloak): white-box and black-box error-minimizing cloaks of the "
                    "training music, under its masking threshold.",
        entry="soundsafe.cloak.step:run_cloak",
        hardware="t4",
        params=("cloak",),
        deps=("data/corpus", "data/validated"),
        outs=("models/cloak",),
        code=("soundsafe/cloak", "soundsafe/splits.py", "soundsafe/watermark/psychoacoustic.py"),
        metrics="reports/cloak/make/metrics.json",
    ),
    Step(
        name="cloak_evaluate",
        description="Train fresh generative models (one of an unseen architecture) on clean and cloaked music, "
                    "raw and after MP3: held-out loss, Fréchet distance; the cloaks' SNR, NMR, PESQ.",
        entry="soundsafe.cloak.step:run_evaluate",
        hardware="t4",
        params=("cloak_evaluate",),
        deps=("data/corpus", "data/validated", "models/cloak"),
        code=("soundsafe/cloak", "soundsafe/splits.py", "soundsafe/attacks/codecs.py",
              "soundsafe/evaluation/quality.py", "soundsafe/watermark/psychoacoustic.py"),
        metrics="reports/cloak/metrics.json",
        reports=("reports/cloak/summary.md", "reports/cloak/loss_curves.png"),
        plots=(("reports/cloak/curves.csv", "step", "heldout_loss"),),
    ),
    Step(
        name="register",
        description="Register the torch and ONNX models in the MLflow model registry with lineage; move the "
                    "champion alias only when the evaluation passes the gate.",
        entry="soundsafe.release.register:run",
        hardware="cpu",
        params=("register",),
        deps=("data/validated", "models/watermark/realtime", "models/onnx", "reports/evaluate/metrics.json",
              "reports/export/metrics.json"),
        code=("soundsafe/release",),
        metrics="reports/register/metrics.json",
    ),
)


def get_step(name: str) -> Step:
    """Look a step up by name, with the list of known steps in the error."""
    for step in STEPS:
        if step.name == name:
            return step
    raise KeyError(f"unknown step {name!r}; known steps: {', '.join(s.name for s in STEPS)}")


def edges(steps: tuple[Step, ...] = STEPS) -> set[tuple[str, str]]:
    """(producer, consumer) pairs: a step depends on another when it reads a path the other writes."""
    producers = {out: s.name for s in steps for out in (*s.outs, *((s.metrics,) if s.metrics else ()))}
    found = set()
    for step in steps:
        for dep in step.deps:
            for out, producer in producers.items():
                if dep == out or dep.startswith(out.rstrip("/") + "/"):
                    found.add((producer, step.name))
    return found


def topological_order(steps: tuple[Step, ...] = STEPS) -> list[str]:
    """Step names in an order that runs every producer before its consumers."""
    graph = edges(steps)
    pending = {s.name: {a for a, b in graph if b == s.name} for s in steps}
    order: list[str] = []
    while pending:
        ready = sorted(n for n, before in pending.items() if before <= set(order))
        if not ready:
            raise ValueError(f"the step graph has a cycle among: {', '.join(sorted(pending))}")
        order.extend(ready)
        for n in ready:
            del pending[n]
    return order
