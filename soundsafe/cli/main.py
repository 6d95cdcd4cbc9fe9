"""``soundsafe``: run the pipeline or its steps, ingest and validate data, embed, detect and verify watermarks, more.

Exit codes: 0 success; 1 the work failed (bad data, a failed step; the message says why); 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

_EPILOG = """examples:
  soundsafe pipeline run                 # dvc repro on the active profile (params.yaml: profile)
  soundsafe pipeline run --profile ci    # switch profile, then run; only changed steps re-run
  soundsafe steps                        # list the registered steps
  soundsafe step corpus                  # run one step (what dvc.yaml calls)
  soundsafe ingest ~/music --out data/my_corpus --metadata ~/music/metadata.csv
  soundsafe validate data/my_corpus/manifest.parquet
  soundsafe embed song.wav marked.wav --metadata meta.json --key-file secret.key
  soundsafe detect marked.wav --key-file secret.key
  soundsafe verify marked.wav --isrc USRC17607839 --key-file secret.key
  soundsafe payload inspect meta.json    # the watermark payload: see `soundsafe payload --help`
  soundsafe attack list                  # the attack registry: see `soundsafe attack --help`
  soundsafe nnw verify marked.pt --key owner.key   # an ownership mark in a model: `soundsafe nnw --help`
  soundsafe attribution detect generated/*.wav --mark echo75   # trained on your music? `attribution --help`
  soundsafe cloak song.wav song.cloaked.wav         # protective noise against generative training
  soundsafe evaluate --audio ~/music --out reports/my_eval   # quality, robustness, cost vs baselines
"""


# command → (module in soundsafe.cli, its function that adds the command's parser); a command line names one of
# them, so only that module is imported (fast start); `--help` and unknown commands get all of them
_COMMAND_MODULES = {
    "embed": ("watermark_cmd", "add_watermark_parsers"), "detect": ("watermark_cmd", "add_watermark_parsers"),
    "verify": ("watermark_cmd", "add_watermark_parsers"), "payload": ("payload_cmd", "add_payload_parser"),
    "attack": ("attack_cmd", "add_attack_parser"), "evaluate": ("evaluate_cmd", "add_evaluate_parser"),
    "fingerprint": ("fingerprint_cmd", "add_fingerprint_parser"), "nnw": ("nnw_cmd", "add_nnw_parser"),
    "attribution": ("attribution_cmd", "add_attribution_parser"), "cloak": ("cloak_cmd", "add_cloak_parser"),
}


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command-line parser; ``only``: build just that command's parser among the module-defined ones."""
    parser = argparse.ArgumentParser(prog="soundsafe", description=__doc__.splitlines()[0].split(": ", 1)[1],
                                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    step = sub.add_parser("step", help="run one pipeline step (as dvc.yaml does)")
    step.add_argument("name", help="step name (see `soundsafe steps`)")
    step.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    step.add_argument("--profile", help="override the params file's active profile for this run")
    step.add_argument("--input", action="append", default=[], metavar="REL=PATH",
                      help="run in a fresh workspace with this input artifact at registry path REL (orchestrators)")
    step.add_argument("--output", action="append", default=[], metavar="REL=PATH",
                      help="copy the step's output REL to PATH afterwards (orchestrators)")
    step.add_argument("--metrics-out", type=Path, help="copy the step's metrics JSON here (orchestrators)")

    sub.add_parser("steps", help="list the registered steps with their hardware class and artifacts")

    pipeline = sub.add_parser("pipeline", help="run or render the whole pipeline")
    psub = pipeline.add_subparsers(dest="pipeline_command", required=True, metavar="ACTION")
    prun = psub.add_parser("run", help="dvc repro under one MLflow parent run (a child run per step)")
    prun.add_argument("--profile", choices=("ci", "local", "full"),
                      help="set params.yaml's active profile first (kept for later runs)")
    prun.add_argument("--force", action="store_true", help="re-run every step even if nothing changed")
    dvc = psub.add_parser("dvc", help="the DVC adapter").add_subparsers(dest="dvc_command", required=True,
                                                                        metavar="ACTION")
    render = dvc.add_parser("render", help="write dvc.yaml from the step registry")
    render.add_argument("--check", action="store_true", help="only check dvc.yaml is up to date (exit 1 if not)")

    kfp = psub.add_parser("kfp", help="the Kubeflow Pipelines adapter").add_subparsers(
        dest="kfp_command", required=True, metavar="ACTION")
    kcompile = kfp.add_parser("compile", help="compile pipelines/kfp_training.py to YAML for a KFP cluster")
    kcompile.add_argument("--out", type=Path, help="output YAML (default: pipelines/soundsafe_training.yaml)")
    kcompile.add_argument("--profile", choices=("ci", "local", "full"), help="default profile baked in")
    klocal = kfp.add_parser("run-local", help="run the Kubeflow pipeline here with kfp.local (subprocess runner)")
    klocal.add_argument("--profile", choices=("ci", "local", "full"), default="ci", help="default: ci")
    klocal.add_argument("--pipeline-root", type=Path, default=Path("kfp_local_outputs"),
                        help="where kfp.local keeps task outputs (default: kfp_local_outputs/)")

    azure = psub.add_parser("azure", help="the Azure ML adapter").add_subparsers(
        dest="azure_command", required=True, metavar="ACTION")
    arender = azure.add_parser("render", help="validate (offline) and write the Azure ML specs as YAML")
    arender.add_argument("--out", type=Path, help="output folder (default: pipelines/azureml/)")
    asubmit = azure.add_parser("submit", help="create computes, environments, the pipeline job and its schedule",
                               epilog="Credentials come from DefaultAzureCredential: `az login`, a managed "
                                      "identity, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET.")
    for flag, env in (("--subscription", "AZURE_SUBSCRIPTION_ID"), ("--resource-group", "AZURE_RESOURCE_GROUP"),
                      ("--workspace", "AZUREML_WORKSPACE")):
        asubmit.add_argument(flag, default=os.environ.get(env), help=f"default: ${env}")

    ingest = sub.add_parser("ingest", help="turn a folder of audio files into a corpus manifest")
    ingest.add_argument("src", type=Path, help="folder with wav/flac/ogg/mp3/… files (searched recursively)")
    ingest.add_argument("--out", type=Path, default=Path("data/ingested"), help="output folder (replaced)")
    ingest.add_argument("--metadata", type=Path, help="CSV with a 'file' column and metadata record fields")
    ingest.add_argument("--sample-rate", type=int, default=44100, help="resample to this rate (default 44100)")

    validate = sub.add_parser("validate", help="validate a manifest and its audio (Great Expectations)")
    validate.add_argument("manifest", type=Path, help="manifest.parquet to check")
    validate.add_argument("--params", type=Path, default=Path("params.yaml"),
                          help="params file whose 'validate' section sets the rules")
    validate.add_argument("--report-dir", type=Path, help="where to write report.json and files.csv "
                          "(default: beside the manifest, in validation/)")
    wanted = [_COMMAND_MODULES[only]] if only in _COMMAND_MODULES else dict.fromkeys(_COMMAND_MODULES.values())
    for module, adder in wanted:
        getattr(importlib.import_module(f"soundsafe.cli.{module}"), adder)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = _attach_negative_values(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in _COMMAND_MODULES else None
    args = _parser(command).parse_args(argv)
    from soundsafe.errors import DataValidationError, IngestError, ManifestError, ParamsError

    try:
        return _dispatch(args)
    except DataValidationError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (ParamsError, ManifestError, IngestError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"soundsafe: error: {message}", file=sys.stderr)
        return 1


def _attach_negative_values(argv: list[str]) -> list[str]:
    """``--strength -5dB`` → ``--strength=-5dB``: argparse would take a value starting with '-' for an option."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] in ("--strength", "-s") and token[:1] == "-" and token[1:2].isdigit():
            out[-1] = f"--strength={token}"
        else:
            out.append(token)
    return out


def _dispatch(args: argparse.Namespace) -> int:
    root = Path.cwd()
    if args.command == "payload":
        from soundsafe.cli.payload_cmd import run_payload

        return run_payload(args)
    if args.command in ("embed", "detect", "verify"):
        from soundsafe.cli import watermark_cmd

        return {"embed": watermark_cmd.run_embed, "detect": watermark_cmd.run_detect,
                "verify": watermark_cmd.run_verify}[args.command](args)
    if args.command == "attack":
        from soundsafe.cli.attack_cmd import run_attack

        return run_attack(args)
    if args.command == "fingerprint":
        from soundsafe.cli.fingerprint_cmd import run_fingerprint

        return run_fingerprint(args)
    if args.command == "nnw":
        from soundsafe.cli.nnw_cmd import run_nnw

        return run_nnw(args)
    if args.command == "attribution":
        from soundsafe.cli.attribution_cmd import run_attribution

        return run_attribution(args)
    if args.command == "cloak":
        from soundsafe.cli.cloak_cmd import run_cloak

        return run_cloak(args)
    if args.command == "evaluate":
        from soundsafe.cli.evaluate_cmd import run_evaluate

        return run_evaluate(args)
    if args.command == "step":
        from soundsafe.steps.runner import run_step

        if args.input or args.output or args.metrics_out:
            from soundsafe.orchestration.workspace import run_step_in_workspace

            pairs = [dict(p.split("=", 1) for p in group if "=" in p) for group in (args.input, args.output)]
            metrics = run_step_in_workspace(args.name, args.params.read_text(encoding="utf-8"),
                                            args.profile, pairs[0], pairs[1],
                                            str(args.metrics_out) if args.metrics_out else None)
        else:
            metrics = run_step(args.name, root, args.params, args.profile)
        shown = list(metrics.items())[:24]
        print(" ".join(f"{k}={v}" for k, v in shown) + (f" … ({len(metrics)} metrics in all)"
                                                         if len(metrics) > len(shown) else ""))
        return 0
    if args.command == "steps":
        from soundsafe.steps.registry import STEPS, topological_order

        by_name = {s.name: s for s in STEPS}
        for name in topological_order():
            s = by_name[name]
            print(f"{s.name:22s} {s.hardware:5s} {', '.join(s.deps) or '-'} -> {', '.join(s.outs)}\n"
                  f"{'':28s}{s.description}")
        return 0
    if args.command == "pipeline" and args.pipeline_command == "dvc":
        return _render_dvc(root, check=args.check)
    if args.command == "pipeline" and args.pipeline_command == "kfp":
        from soundsafe.orchestration.kfp_adapter import compile_pipeline, run_local

        if args.kfp_command == "compile":
            print(f"wrote {compile_pipeline(root, args.out, args.profile)}")
        else:
            seconds = run_local(root, args.profile, args.pipeline_root.resolve())
            print(f"kfp.local run finished in {seconds:.0f} s; outputs under {args.pipeline_root}")
        return 0
    if args.command == "pipeline" and args.pipeline_command == "azure":
        from soundsafe.orchestration import azure_adapter

        if args.azure_command == "render":
            for path in azure_adapter.render(root, args.out):
                print(f"wrote {path}")
            return 0
        missing = [f for f in ("subscription", "resource_group", "workspace") if not getattr(args, f)]
        if missing:
            print(f"soundsafe: error: azure submit needs --{', --'.join(m.replace('_', '-') for m in missing)}",
                  file=sys.stderr)
            return 2
        run = azure_adapter.submit(root, args.subscription, args.resource_group, args.workspace)
        print(f"submitted pipeline run {run}; schedule created")
        return 0
    if args.command == "pipeline" and args.pipeline_command == "run":
        return _run_pipeline(root, args.profile, args.force)
    if args.command == "ingest":
        from soundsafe.ingest import ingest_folder

        df, rejected = ingest_folder(args.src, args.out, args.sample_rate, args.metadata)
        print(f"ingested {len(df)} file(s) into {args.out / 'manifest.parquet'}; skipped {len(rejected)}"
              + (f" (listed in {args.out / 'rejected.csv'})" if rejected else ""))
        return 0
    if args.command == "validate":
        from soundsafe.params import load_params, resolve_section
        from soundsafe.validation.core import validate_corpus

        rules = resolve_section(load_params(args.params), "validate")
        report_dir = args.report_dir or args.manifest.parent / "validation"
        _outcome, metrics = validate_corpus(args.manifest, rules, report_dir)
        print(f"valid: {metrics['files']} file(s), {metrics['expectations']} expectations passed; "
              f"report: {report_dir / 'report.json'}")
        return 0
    raise AssertionError(f"unhandled command {args.command}")


def _render_dvc(root: Path, check: bool) -> int:
    from soundsafe.atomic import write_text
    from soundsafe.params import load_params
    from soundsafe.steps.dvc_yaml import render_dvc_yaml

    text = render_dvc_yaml(load_params(root / "params.yaml"))
    target = root / "dvc.yaml"
    current = target.read_text(encoding="utf-8") if target.exists() else ""
    if check:
        if current != text:
            print("dvc.yaml is out of date with the step registry: run `soundsafe pipeline dvc render`",
                  file=sys.stderr)
            return 1
        print("dvc.yaml matches the step registry")
        return 0
    write_text(target, text)
    print(f"wrote {target}")
    return 0


def _run_pipeline(root: Path, profile: str | None, force: bool) -> int:
    from soundsafe.params import load_params, set_profile
    from soundsafe.tracking import pipeline_run

    if profile and set_profile(root / "params.yaml", profile):
        print(f"params.yaml: active profile is now {profile!r}")
    active = load_params(root / "params.yaml").get("profile", "local")
    # Steps are run by dvc as `soundsafe step …`: make this environment's scripts come first on PATH.
    bindir = str(Path(sys.executable).parent)
    env_path = bindir + os.pathsep + os.environ.get("PATH", "")
    dvc = shutil.which("dvc", path=env_path)
    if dvc is None:
        print("soundsafe: error: dvc is not installed in this environment (run `make pipeline`)", file=sys.stderr)
        return 1
    os.environ["PATH"] = env_path
    with pipeline_run(root, active) as run_id:
        print(f"MLflow parent run {run_id} (profile {active})", file=sys.stderr)
        rc = subprocess.call([dvc, "repro", *(["--force"] if force else [])], cwd=root)
        if rc != 0:
            print(f"soundsafe: pipeline failed (dvc repro exited {rc}); see the step's message above",
                  file=sys.stderr)
            raise SystemExit(1)  # leaving the run's context this way marks the MLflow parent run FAILED
    return 0
