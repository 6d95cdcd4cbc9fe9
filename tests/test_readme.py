"""Every command the README and the ``--help`` epilogs show runs, as a user would type it, on inputs made here.

Collected: each line of the README's ``bash``/``text``/``sh`` code blocks (a trailing ``# comment`` or a
description after three spaces is dropped), each ``python`` block, and each example line (``soundsafe …``,
``ffmpeg …``) of every ``--help`` epilog. Unmarked code blocks are output or listings and are not collected.
Every collected line must be in exactly one of the tables below, and every table entry must still be documented:

- ``CASES``: run with ``bash -o pipefail -c LINE`` in a fresh copy of a sandbox (the project's tracked files, a
  fresh clone's, plus the files the examples name: ``song.wav``, ``meta.json``, ``secret.key``, ``~/music``,
  …), asserting the documented exit code and what the output must hold (``--json``/``--follow`` parsed);
- ``USAGE``: the "Command line" synopsis: each command's ``--help`` exits 0 and lists every option shown;
- ``COVERED``: a line that a slower test elsewhere runs exactly (the ci pipeline through DVC and kfp.local);
- ``SKIPPED``: lines that need what CI cannot have, each with the reason.

A new README or epilog command without an entry fails :func:`test_every_documented_command_has_a_test`.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.checkout import copy_checkout

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ISRC = "USRC17607839"  # tests/data/sample_meta.json, and the README's verify examples
_COMMAND_BLOCKS = ("bash", "text", "sh", "shell")
_EXAMPLE_START = ("soundsafe ", "ffmpeg ", "dvc ", "python ")

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the README's pipe examples need the ffmpeg "
                                "command line (`make test` installs it)")


# ---------------------------------------------------------------------------------------------------------------
# collecting what the documentation shows

def _command(line: str) -> str:
    """A documented line without its trailing comment or description, whitespace collapsed."""
    return " ".join(re.split(r"\s{3,}|\s+#\s", line.strip())[0].split())


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found: list[str] = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
        if lang == "python":
            found.append("python: " + body.strip().splitlines()[0])
        elif lang in _COMMAND_BLOCKS:
            found += [_command(line) for line in body.splitlines() if line.strip()]
    return found


def epilog_commands() -> list[str]:
    from soundsafe.cli.main import _parser

    found: list[str] = []
    stack, seen = [_parser()], set()
    while stack:
        parser = stack.pop()
        if id(parser) in seen:
            continue
        seen.add(id(parser))
        found += [_command(line) for line in (parser.epilog or "").splitlines()
                  if line.startswith("  ") and line.strip().startswith(_EXAMPLE_START)]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack += list(action.choices.values())
    return found


def documented() -> list[str]:
    return list(dict.fromkeys(readme_commands() + epilog_commands()))


# ---------------------------------------------------------------------------------------------------------------
# what each line must do

Check = Callable[[subprocess.CompletedProcess[str], Path], None]


@dataclass(frozen=True)
class Case:
    rc: int = 0
    check: Check | None = None
    before: tuple[str, ...] = ()  # command lines run first (their exit code must be 0)
    remove: tuple[str, ...] = ()  # sandbox files the line creates: removed first, so it must write them
    timeout: int = 600


@dataclass(frozen=True)
class Usage:
    helps: tuple[tuple[str, ...], ...]  # argv (without --help) of each command the synopsis line shows
    options: tuple[str, ...] = field(default=())


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


def _has(*texts: str, stream: str = "stdout") -> Check:
    def check(proc: subprocess.CompletedProcess[str], _: Path) -> None:
        out = getattr(proc, stream)
        for text in texts:
            assert text in out, f"{text!r} not in {stream}:\n{out[-3000:]}"
    return check


def _files(*names: str) -> Check:
    def check(_: subprocess.CompletedProcess[str], box: Path) -> None:
        for name in names:
            assert (box / name).is_file() and (box / name).stat().st_size > 0, f"{name} was not written"
    return check


def _all(*checks: Check) -> Check:
    def check(proc: subprocess.CompletedProcess[str], box: Path) -> None:
        for c in checks:
            c(proc, box)
    return check


def _audio_like(name: str, reference: str, tolerance_s: float = 0.15) -> Check:
    def check(_: subprocess.CompletedProcess[str], box: Path) -> None:
        import soundfile as sf

        out, ref = sf.info(str(box / name)), sf.info(str(box / reference))
        assert out.samplerate == ref.samplerate and out.channels == ref.channels
        assert abs(out.duration - ref.duration) <= tolerance_s, (out.duration, ref.duration)
    return check


def _meta_imported(_: subprocess.CompletedProcess[str], box: Path) -> None:
    record = json.loads((box / "meta.json").read_text())
    assert record["isrc"] == ISRC and record["iswc"] == "T-034524680-1" and record["writers"]


def _key_written(_: subprocess.CompletedProcess[str], box: Path) -> None:
    key = box / "secret.key"
    assert re.fullmatch(r"[0-9a-f]{64}", key.read_text().strip()) and key.stat().st_mode & 0o777 == 0o600


def _packets(_: subprocess.CompletedProcess[str], box: Path) -> None:
    assert json.loads((box / "packets.json").read_text())["format"] == "soundsafe-packets/1"


def _decoded(proc: subprocess.CompletedProcess[str], _: Path) -> None:
    out = _json(proc)
    assert out["complete"] and out["fields"]["isrc"] == ISRC


def _embedded(name: str, source: str) -> Check:
    def check(proc: subprocess.CompletedProcess[str], box: Path) -> None:
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        assert summary["model"]["source"] == source and summary["snr_db"] > 20 and summary["chunks_marked"] >= 9
        assert f"soundsafe embed: model {summary['model']['path']}" in proc.stderr
        if source == "release":
            assert summary["model"]["card_id"].startswith("soundsafe-wm-"), summary
        _audio_like(name, "song.wav", 0.0)(proc, box)
    return check


def _detect_json(min_marked: float) -> Check:
    """The JSON of a partial read: the ISRC, the model, every chunk; ``min_marked`` of chunks seen as marked."""
    return lambda proc, _: _check_detect_json(_json(proc), min_marked)


def _check_detect_json(out: dict[str, Any], min_marked: float) -> None:
    assert {"model", "complete", "fields", "confidence", "missing", "chunks", "marked_fraction",
            "first_reported_s"} <= set(out)
    assert out["fields"]["isrc"] == ISRC and out["confidence"]["isrc"] > 0.99 and not out["complete"]
    assert out["model"]["source"] == "release" and out["model"]["card_id"].startswith("soundsafe-wm-")
    assert out["marked_fraction"] >= min_marked
    assert all({"start_s", "marked", "strength"} <= set(c) for c in out["chunks"])


def _follow_lines(proc: subprocess.CompletedProcess[str], _: Path) -> None:
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    fields = {e["field"]: e for e in lines if e["event"] == "field"}
    assert fields["isrc"]["value"] == ISRC and fields["isrc"]["time_s"] <= 10.0
    assert {"confidence", "time_s"} <= set(fields["isrc"])
    assert lines[-1]["event"] == "end" and lines[-1]["seconds"] > 9 and "missing" in lines[-1]
    assert lines[-1]["model"]["source"] == "release"


def _verified_json(proc: subprocess.CompletedProcess[str], _: Path) -> None:
    out = _json(proc)
    assert out["verified"] and out["expected"] == {"isrc": ISRC, "iswc": "T-034524680-1"}
    assert out["read"]["isrc"] == ISRC


def _attack_json(proc: subprocess.CompletedProcess[str], _: Path) -> None:
    names = {a["name"] for a in _json(proc)}
    assert {"mp3", "aac", "opus"} <= names, names


def _report(folder: str, *texts: str) -> Check:
    def check(proc: subprocess.CompletedProcess[str], box: Path) -> None:
        metrics = json.loads((box / folder / "metrics.json").read_text())
        assert 0.5 <= metrics["soundsafe.bit_acc.clean"] <= 1.0 and metrics["soundsafe.snr_db"] > 20
        summary = (box / folder / "summary.md").read_text()
        for text in texts:
            assert text in summary + proc.stdout, f"{text!r} missing from the report"
        assert (box / folder / "report.html").stat().st_size > 10_000
    return check


def _audiowmark_noted(proc: subprocess.CompletedProcess[str], box: Path) -> None:
    if shutil.which("audiowmark") is None:  # the row is marked missing, not dropped silently
        assert "audiowmark" in proc.stdout + (box / "reports/quick_eval/summary.md").read_text()


def _indexed(proc: subprocess.CompletedProcess[str], box: Path) -> None:
    out = _json(proc)
    assert out["tracks"] == 3 and out["windows"] > 50 and (box / "my_index/catalog.json").is_file()


def _identified(track: str) -> Check:
    def check(proc: subprocess.CompletedProcess[str], _: Path) -> None:
        out = _json(proc)
        assert out["identified"] and out["track"] == track, out
        assert {"score", "offset_s", "candidates", "title", "isrc"} <= set(out)
    return check


def _attribution_marked(mark: str) -> Check:
    def check(proc: subprocess.CompletedProcess[str], _: Path) -> None:
        out = _json(proc)
        assert out["mark"] == mark and 3 < out["snr_db"] < 30, out
    return check


def _attribution_found(mark: str) -> Check:
    def check(proc: subprocess.CompletedProcess[str], _: Path) -> None:
        out = _json(proc)
        assert out["found"] == [mark] and out["pooled_z"][mark] > 5 and out["files"], out
    return check


def _cloaked(proc: subprocess.CompletedProcess[str], _: Path) -> None:
    out = _json(proc)
    assert out["snr_db"] >= 31.9 and out["nmr_db"] < 0 and out["surrogate_loss_cloaked"] > 0, out


def _nnw(found: bool, owner: int | None = None) -> Check:
    def check(proc: subprocess.CompletedProcess[str], _: Path) -> None:
        out = _json(proc)
        assert out["found"] is found and (owner is None or out["owner"] == owner), out
        assert found or out["tag_errors"] > 2
    return check


def _ingested(_: subprocess.CompletedProcess[str], box: Path) -> None:
    import pandas as pd

    manifest = pd.read_parquet(box / "data/my_corpus/manifest.parquet")
    assert len(manifest) == 2 and all(json.loads(m)["isrc"] for m in manifest["metadata"])


def _corpus_step(_: subprocess.CompletedProcess[str], box: Path) -> None:
    assert json.loads((box / "reports/corpus/metrics.json").read_text())["tracks"] == 8  # the ci profile's


def _python_block(_: subprocess.CompletedProcess[str], __: Path) -> None:
    pass  # the block's own asserts (appended below) are the check


CI_PROFILE = "python -c 'from soundsafe.params import set_profile; set_profile(\"params.yaml\", \"ci\")'"
ONNX_COPY = "python -c 'import shutil; from soundsafe.watermark.default_model import RELEASE_DIR as r; " \
            "shutil.copytree(r / \"onnx\", \"models/onnx\")'"
INDEX = "soundsafe fingerprint index ~/catalog --out my_index"
FP_COPY = "python -c 'import os, shutil; from soundsafe.fingerprint.encoders import RELEASE_DIR as r; " \
          "shutil.copytree(r, \"models/fingerprint\")'"
# stand-ins for a suspect model's outputs: the sandbox song with the echo a model trained on marked music makes
GENERATED = "mkdir -p generated && soundsafe attribution mark song.wav generated/a.wav --mark echo75"
NNW_KEYGEN = "soundsafe nnw keygen owner.key --layer body.12.weight"
NNW_MARK = "soundsafe nnw mark models/fingerprint/model.pt marked.pt --key owner.key --owner 7 --model-id 20261207"
INGEST = "soundsafe ingest ~/music --out data/my_corpus --metadata ~/music/metadata.csv"
EVAL_QUICK = ("soundsafe evaluate --audio ~/music --out reports/quick_eval --attacks clean,mp3:128k,aac:64k "
              "--external audiowmark")

CASES: dict[str, Case] = {
    "soundsafe payload import --ddex release.xml --cwr works.cwr --work SSW0000001 --out meta.json":
        Case(check=_meta_imported, remove=("meta.json",)),
    "soundsafe payload keygen secret.key": Case(check=_key_written, remove=("secret.key",)),
    "soundsafe payload inspect meta.json": Case(check=_has("isrc", "packets")),
    "soundsafe payload encode meta.json --key-file secret.key --out packets.json":
        Case(check=_packets, remove=("packets.json",)),
    "soundsafe payload decode packets.json --key-file secret.key": Case(check=_decoded),
    "soundsafe payload simulate meta.json --ber 0.02,0.05,0.1 --loss 0,0.2 --code light,standard,robust":
        Case(check=_has("robust", "light")),
    "soundsafe payload simulate meta.json --ber 0.01,0.05,0.1 --loss 0,0.2": Case(check=_has("standard")),
    "soundsafe embed song.wav marked.wav --metadata meta.json --key-file secret.key":
        Case(check=_embedded("marked.wav", "release"), remove=("marked.wav",)),
    "soundsafe embed song.wav song_marked.wav --metadata meta.json --key-file secret.key":
        Case(check=_embedded("song_marked.wav", "release")),
    "soundsafe embed song.flac marked.wav --metadata meta.json --model models/onnx":
        Case(check=_embedded("marked.wav", "--model"), before=(ONNX_COPY,), remove=("marked.wav",)),
    "ffmpeg -i song.mp3 -f wav - | soundsafe embed - - --metadata meta.json > marked.wav":
        Case(check=_all(_audio_like("marked.wav", "song.wav"), _has("release", stream="stderr")),
             remove=("marked.wav",)),
    # marked.wav holds 20 s: the ISRC and ISWC (the core, sent every 8 s), not the whole record: "3 part"
    "soundsafe detect marked.wav --key-file secret.key": Case(rc=3, check=_has(ISRC, "missing:")),
    "soundsafe detect marked.wav --key-file secret.key --json": Case(rc=3, check=_detect_json(0.8)),
    # after MP3 128k fewer chunks pass the marked threshold on this synthetic song; the ISRC must still be read
    "soundsafe detect clip.mp3 --json --key-file secret.key": Case(rc=3, check=_detect_json(0.2)),
    "soundsafe detect marked.wav --follow --key-file secret.key": Case(rc=3, check=_follow_lines),
    "soundsafe detect sped-up.wav --detect-speed --key-file secret.key":
        Case(rc=3, check=_has(ISRC, "speed change of +2.00 % undone")),
    f"soundsafe verify marked.wav --isrc {ISRC} --key-file secret.key": Case(check=_has("verified: isrc")),
    f"soundsafe verify delivery.wav --isrc {ISRC} --key-file secret.key": Case(check=_has("verified: isrc")),
    "soundsafe verify delivery.wav --metadata meta.json --key-file secret.key --json": Case(check=_verified_json),
    "python: from soundsafe.watermark.api import embed, detect": Case(check=_python_block, before=(ONNX_COPY,)),
    "soundsafe attack list": Case(check=_has("mp3", "concert", "layered")),
    "soundsafe attack list --family codec --json": Case(check=_attack_json),
    "soundsafe attack mp3 song.wav out.wav --strength 64k": Case(check=_audio_like("out.wav", "song.wav")),
    "soundsafe attack mp3 song.wav song_mp3.wav --strength 64k": Case(check=_audio_like("song_mp3.wav", "song.wav")),
    "soundsafe attack concert song.wav live.wav --strength -5dB --seed 7": Case(check=_files("live.wav")),
    "soundsafe attack layered song.wav attacked.wav": Case(check=_files("attacked.wav")),
    "soundsafe evaluate --audio ~/music --out reports/my_eval": Case(check=_report("reports/my_eval", "echo")),
    EVAL_QUICK: Case(check=_all(_report("reports/quick_eval"), _audiowmark_noted)),
    INDEX: Case(check=_indexed),
    "soundsafe fingerprint identify live_clip.m4a --index my_index": Case(check=_identified("track-b.wav"),
                                                                          before=(INDEX,)),
    "ffmpeg -i concert.mp4 -t 5 -f wav - | soundsafe fingerprint identify - --index my_index":
        Case(check=_identified("track-c.wav"), before=(INDEX,)),
    "soundsafe nnw layers models/fingerprint/model.pt": Case(check=_has("body.12.weight", "yes"), before=(FP_COPY,)),
    NNW_KEYGEN: Case(check=_files("owner.key"), remove=("owner.key",)),
    NNW_MARK: Case(check=_nnw(True, 7), before=(FP_COPY, NNW_KEYGEN), remove=("marked.pt",)),
    "soundsafe nnw verify marked.pt --key owner.key": Case(check=_nnw(True, 7),
                                                           before=(FP_COPY, NNW_KEYGEN, NNW_MARK)),
    "soundsafe nnw verify models/fingerprint/encoder.onnx --key owner.key":
        Case(rc=1, check=_nnw(False), before=(FP_COPY, NNW_KEYGEN)),
    "soundsafe attribution mark song.wav song.marked.wav --mark echo75":
        Case(check=_all(_files("song.marked.wav"), _attribution_marked("echo75")), remove=("song.marked.wav",)),
    "soundsafe attribution mark song.wav song.marked.wav --mark tse100 --key 31337":
        Case(check=_all(_files("song.marked.wav"), _attribution_marked("tse100")), remove=("song.marked.wav",)),
    "soundsafe attribution detect generated/*.wav --mark echo75":
        Case(check=_attribution_found("echo75"), before=(GENERATED,)),
    "soundsafe cloak song.wav song.cloaked.wav":
        Case(check=_all(_audio_like("song.cloaked.wav", "song.wav", 0.0), _cloaked), remove=("song.cloaked.wav",)),
    "soundsafe pipeline kfp compile": Case(check=_all(_has("wrote"), _files("pipelines/soundsafe_training.yaml")),
                                           remove=("pipelines/soundsafe_training.yaml",)),
    "soundsafe pipeline azure render": Case(check=_has("wrote", "pipeline_job")),
    INGEST: Case(check=_ingested),
    "soundsafe validate data/my_corpus/manifest.parquet": Case(check=_has("valid: 2 file(s)"), before=(INGEST,)),
    "soundsafe steps": Case(check=_has("corpus", "fingerprint_train", "register")),
    "python benchmarks/startup.py": Case(check=_has("| help |", "| detect_3s |", "| identify_5s_2h |")),
    "soundsafe step corpus": Case(check=_corpus_step, before=(CI_PROFILE,)),
}

USAGE: dict[str, Usage] = {
    "soundsafe pipeline run [--profile P] [--force]": Usage((("pipeline", "run"),)),
    "soundsafe pipeline dvc render [--check]": Usage((("pipeline", "dvc", "render"),)),
    "soundsafe pipeline kfp compile|run-local": Usage((("pipeline", "kfp", "compile"),
                                                        ("pipeline", "kfp", "run-local"))),
    "soundsafe pipeline azure render|submit": Usage((("pipeline", "azure", "render"), ("pipeline", "azure", "submit"))),
    "soundsafe step NAME [--params F] [--profile P]": Usage((("step",),)),
    "soundsafe ingest SRC [--out DIR] [--metadata CSV]": Usage((("ingest",),)),
    "soundsafe validate MANIFEST [--report-dir DIR]": Usage((("validate",),)),
    "soundsafe payload encode|decode|inspect|import|keygen|simulate …":
        Usage(tuple(("payload", a) for a in ("encode", "decode", "inspect", "import", "keygen", "simulate"))),
    "soundsafe attack list | NAME IN OUT [--strength S] [--seed N]": Usage((("attack",),)),
    "soundsafe embed IN|- OUT|- --metadata META.json [--key-file F] [--model M|ONNX_DIR|carrier] [--threads N] "
    "[--quiet]": Usage((("embed",),)),
    "soundsafe detect IN|- [--json | --follow] [--sync-chunks S] [--detect-speed] [--key-file F] "
    "[--model M|ONNX_DIR|carrier] [--quiet]": Usage((("detect",),)),
    "soundsafe verify IN|- --isrc ISRC | --metadata META.json [--json] [--key-file F] [--model M] [--quiet]":
        Usage((("verify",),)),
    "soundsafe fingerprint index DIR [--out IDX] [--model M] | identify FILE|- [--index IDX] [--threshold T]":
        Usage((("fingerprint", "index"), ("fingerprint", "identify"))),
    "soundsafe nnw keygen KEY --layer L | layers M | mark M OUT --key F --owner N --model-id N | verify M --key F":
        Usage(tuple(("nnw", a) for a in ("keygen", "layers", "mark", "verify"))),
    "soundsafe cloak IN OUT [--rounds N] [--blackbox] [--margin DB] [--min-snr DB]": Usage((("cloak",),)),
    "soundsafe attribution mark IN OUT --mark M [--key N] | detect FILE... --mark M [--threshold Z]":
        Usage((("attribution", "mark"), ("attribution", "detect"))),
    "soundsafe evaluate --audio DIR --out DIR [--model M] [--attacks SET] [--baselines echo,tse] [--external NAME]":
        Usage((("evaluate",),)),
}

# line → (test file, test function, literal fragments of its source that make it this exact command)
COVERED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "soundsafe pipeline run": ("test_pipeline_dvc.py", "test_ci_pipeline_runs_caches_and_reruns_only_what_changed",
                               ("again = _pipeline(project)",)),
    "soundsafe pipeline run --profile ci": ("test_pipeline_dvc.py",
                                            "test_ci_pipeline_runs_caches_and_reruns_only_what_changed",
                                            ('_pipeline(project, "--profile", "ci")',)),
    "soundsafe pipeline kfp run-local": ("test_orchestration.py",
                                         "test_kfp_local_runner_runs_the_pipeline_on_the_ci_profile",
                                         ('"pipeline", "kfp", "run-local"',)),
}

SKIPPED: dict[str, str] = {
    "make pipeline": "the local profile's whole pipeline takes most of an hour; its ci-sized run is "
                     "`soundsafe pipeline run --profile ci` (COVERED)",
    "make test": "this test suite itself (CI runs it through .ci/run)",
    "ffmpeg -i http://radio.example/live -f wav - | soundsafe detect - --follow --model models/onnx":
        "a live stream URL (no network in CI); --follow on a file runs above",
    "ffmpeg -i http://radio.example/stream -f wav - | soundsafe detect - --follow --model models/onnx":
        "a live stream URL (no network in CI); --follow on a file runs above",
    "soundsafe pipeline azure submit --subscription S --resource-group G --workspace W":
        "needs an Azure subscription and credentials (`az login`); `azure render` validates the same specs offline",
    "dvc exp run -S profile=full": "the full profile is cluster-sized (25 h of audio, the seed plan's 1.3 M steps)",
}

PYTHON_PRELUDE = """
import json
import numpy as np, soundfile as sf
from soundsafe.payload.keys import load_key
audio, sr = sf.read("song.wav", dtype="float32", always_2d=True)
record = json.loads(open("meta.json").read())
key = load_key("secret.key")
"""
PYTHON_CHECKS = f"""
assert found.result.fields["isrc"] == "{ISRC}" and found.chunk_starts_s, found.result.fields
out = np.concatenate([embedder.push(audio), embedder.flush()])
events = [e for block in np.array_split(out, 7) for e in detector.push(block)] + detector.finish().events
assert any(e.field == "isrc" and e.value == "{ISRC}" for e in events), events
print("python block ok")
"""


def _python_block_source() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)[0]


# ---------------------------------------------------------------------------------------------------------------
# the sandbox

def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "SOUNDSAFE_PARENT_RUN_ID", "SOUNDSAFE_MODEL")}
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", SOUNDSAFE_PROGRESS="0",
               GX_ANALYTICS_ENABLED="false")
    return env


def _sh(line: str, box: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=box, env=_env(box / "home"), text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _ok(line: str, box: Path) -> None:
    done = _sh(line, box)
    assert done.returncode == 0, f"setup `{line}` failed ({done.returncode}):\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's tracked files (a fresh clone, no trained models) plus every input the examples name."""
    import numpy as np
    import soundfile as sf

    from soundsafe.corpus.build import build_demo_corpus

    # the package itself stays out: commands import the installed one, not a copy in the working directory
    box = copy_checkout(tmp_path_factory.mktemp("readme") / "project", skip=("soundsafe/",))
    corpus = tmp_path_factory.mktemp("readme_audio") / "corpus"
    build_demo_corpus(corpus, tracks=6, seconds=20.0, sample_rate=44100, seed=11,
                      splits={"train": 1.0, "val": 0.0, "test": 0.0}, workers=1)
    songs = sorted((corpus / "audio").glob("*.wav"))
    shutil.copy(songs[0], box / "song.wav")
    for name, data in (("meta.json", "sample_meta.json"), ("release.xml", "sample_release_ern43.xml"),
                       ("works.cwr", "sample_work.cwr")):
        shutil.copy(ROOT / "tests/data" / data, box / name)
    music, catalog = box / "home/music", box / "home/catalog"
    music.mkdir(parents=True)
    catalog.mkdir()
    record = json.loads((box / "meta.json").read_text())
    rows = []
    for i, song in enumerate(songs[1:3]):
        audio, sr = sf.read(song, dtype="float32", always_2d=True)
        sf.write(music / f"song{i}.wav", audio[: int(2.5 * sr)], sr)  # short: the evaluate examples run 46 points
        rows.append({"file": f"song{i}.wav", **{k: json.dumps(v) if isinstance(v, list) else v
                                                for k, v in {**record, "isrc": f"QZSSD260000{i}"}.items()}})
    import pandas as pd

    pd.DataFrame(rows).to_csv(music / "metadata.csv", index=False)
    for name, song in zip(("track-a.wav", "track-b.wav", "track-c.wav"), songs[3:6], strict=True):
        shutil.copy(song, catalog / name)
    # a fixed key, not `keygen`'s random one: the layout follows the key, and about 1 key in 10 leaves this 20 s
    # synthetic song's MP3 copy without a readable ISRC (measured 2026-12-03), which would make the examples flaky
    (box / "secret.key").write_text(hashlib.sha256(b"soundsafe README sandbox").hexdigest() + "\n")
    sr = 44100
    for line in (
        "ffmpeg -loglevel error -i song.wav song.mp3", "ffmpeg -loglevel error -i song.wav song.flac",
        "soundsafe embed song.wav marked.wav --metadata meta.json --key-file secret.key --quiet",
        # a delivery is a whole song: 3 min holds the sample record's data cycle, so its ISWC verifies too
        "ffmpeg -loglevel error -stream_loop 8 -i song.wav song_3min.wav",
        "soundsafe embed song_3min.wav delivery.wav --metadata meta.json --key-file secret.key --quiet",
        "ffmpeg -loglevel error -i marked.wav -b:a 128k clip.mp3",
        "ffmpeg -loglevel error -i marked.wav -af asetrate=44982,aresample=44100 sped-up.wav",  # 2 % fast
        "soundsafe payload encode meta.json --key-file secret.key --out packets.json",
        "ffmpeg -loglevel error -ss 2 -t 5 -i home/catalog/track-b.wav -c:a aac -b:a 96k live_clip.m4a",
        "ffmpeg -loglevel error -ss 1 -t 8 -i home/catalog/track-c.wav -c:a aac -b:a 128k concert.mp4",
    ):
        _ok(line, box)
    assert np.isfinite(sf.read(box / "marked.wav")[0]).all() and sr == sf.info(str(box / "marked.wav")).samplerate
    return box


@pytest.fixture
def workdir(sandbox: Path, tmp_path: Path) -> Path:
    """A private copy of the sandbox: every line runs on the same inputs, whatever the others wrote."""
    dest = tmp_path / "project"
    shutil.copytree(sandbox, dest, symlinks=True)
    return dest


# ---------------------------------------------------------------------------------------------------------------
# the tests

def test_every_documented_command_has_a_test() -> None:
    docs = documented()
    tables = {"CASES": set(CASES), "USAGE": set(USAGE), "COVERED": set(COVERED), "SKIPPED": set(SKIPPED)}
    untested = [line for line in docs if not any(line in keys for keys in tables.values())]
    assert not untested, ("documented commands without a test (add each to CASES, USAGE, COVERED or SKIPPED "
                          f"in tests/test_readme.py): {untested}")
    stale = {name: sorted(keys - set(docs)) for name, keys in tables.items() if keys - set(docs)}
    assert not stale, f"entries for commands no longer documented: {stale}"
    twice = [line for line in docs if sum(line in keys for keys in tables.values()) > 1]
    assert not twice, f"in more than one table: {twice}"


@pytest.mark.parametrize("line", list(CASES), ids=lambda line: re.sub(r"[^\w.:=-]+", "_", line)[:90])
def test_documented_command_runs(line: str, workdir: Path) -> None:
    case = CASES[line]
    for name in case.remove:
        (workdir / name).unlink(missing_ok=True)
    for setup in case.before:
        _ok(setup, workdir)
    if line.startswith("python: "):
        script = PYTHON_PRELUDE + _python_block_source() + PYTHON_CHECKS
        done = subprocess.run([sys.executable, "-c", script], cwd=workdir, env=_env(workdir / "home"), text=True,
                              capture_output=True, timeout=case.timeout)
        assert done.returncode == 0 and "python block ok" in done.stdout, done.stderr[-3000:]
        return
    done = _sh(line, workdir, case.timeout)
    assert done.returncode == case.rc, (f"`{line}` exited {done.returncode}, documented {case.rc}\n"
                                        f"stdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-3000:]}")
    if case.check is not None:
        case.check(done, workdir)


@pytest.mark.parametrize("line", list(USAGE))
def test_synopsis_matches_the_help(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    from soundsafe.cli.main import main

    helps = ""
    for argv in USAGE[line].helps:
        with pytest.raises(SystemExit) as done:
            main([*argv, "--help"])
        assert done.value.code == 0
        helps += capsys.readouterr().out
    for option in re.findall(r"--[a-z][a-z-]*", line):
        assert option in helps, f"the synopsis shows {option} but `soundsafe ... --help` does not list it"


@pytest.mark.parametrize("line", list(COVERED))
def test_covered_lines_run_in_their_tests(line: str) -> None:
    file, function, fragments = COVERED[line]
    source = (ROOT / "tests" / file).read_text(encoding="utf-8")
    node = next((n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == function),
                None)
    assert node is not None, f"tests/{file} has no {function}"
    body = ast.get_source_segment(source, node) or ""
    for fragment in fragments:
        assert fragment in body, f"tests/{file}::{function} no longer runs `{line}` ({fragment!r} not in it)"


def test_skips_say_why() -> None:
    assert all(len(reason) > 20 for reason in SKIPPED.values())
