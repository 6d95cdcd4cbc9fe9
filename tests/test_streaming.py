"""Streaming embed/detect (equal to offline), WAV streams on pipes, the CLI's stdin/stdout and --follow, and the
ONNX export (parity with torch, int8, the API on ONNX Runtime)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from soundsafe.attacks import apply_attack
from soundsafe.audio.blocks import WavStreamError, WavStreamReader, WavStreamWriter
from soundsafe.payload.keys import PayloadKey
from soundsafe.payload.packets import CodeSettings, encode_payload
from soundsafe.watermark.api import detect, embed
from soundsafe.watermark.model import build_model
from soundsafe.watermark.streaming import StreamingDetector, StreamingEmbedder

SR = 44100
KEY = PayloadKey(b"s" * 32)


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """20 s of rendered demo music (two 10 s demo-corpus tracks), stereo."""
    from soundsafe.audio.io import read_audio
    from soundsafe.corpus.build import build_demo_corpus
    from soundsafe.manifest import MANIFEST_NAME, audio_path, read_manifest

    out = tmp_path_factory.mktemp("stream") / "corpus"
    build_demo_corpus(out, tracks=2, seconds=10.0, sample_rate=SR, seed=5, splits={"train": 1.0}, workers=1)
    manifest = out / MANIFEST_NAME
    return np.concatenate([read_audio(audio_path(manifest, p))[0] for p in read_manifest(manifest)["path"]])


@pytest.fixture(scope="module")
def model():
    return build_model().eval()  # the plain informed carrier: independent of what a pipeline trained


def _blocks(audio: np.ndarray, seed: int) -> list[np.ndarray]:
    """``audio`` cut at random places (1 frame … 1.5 s blocks)."""
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.integers(1, int(1.5 * SR), size=len(audio) // 1000))
    return np.split(audio, cuts[cuts < len(audio)])


def test_streaming_embed_equals_offline_for_any_blocks(music: np.ndarray, demo_record: dict, model) -> None:
    offline = embed(music, SR, demo_record, KEY, model)
    embedder = StreamingEmbedder(demo_record, SR, KEY, model)
    parts, taken = [], 0
    for block in _blocks(music, 1):
        parts.append(embedder.push(block))
        taken += block.shape[0]
        assert sum(p.shape[0] for p in parts) == taken // SR * SR  # every whole chunk leaves at once: latency < 1 s
    streamed = np.concatenate([*parts, embedder.flush()])
    # the same computation; only how chunks share a model batch differs (float rounding)
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-6)
    assert embedder.latency_s == 1.0


def test_streaming_detect_equals_offline_and_reports_fields_early(music: np.ndarray, demo_record: dict,
                                                                 model) -> None:
    marked = apply_attack("mp3", embed(music, SR, demo_record, KEY, model), SR, "128k")
    offline = detect(marked, SR, KEY, model, sync_chunks=2)
    detector = StreamingDetector(SR, KEY, model, sync_chunks=2)
    events = [e for block in _blocks(marked, 2) for e in detector.push(block)]
    streamed = detector.finish()
    assert streamed.chunk_starts_s == offline.chunk_starts_s and streamed.marked == offline.marked
    np.testing.assert_allclose(streamed.llr, offline.llr, rtol=0, atol=1e-9)
    assert streamed.result.fields == offline.result.fields
    isrc = encode_payload(demo_record, KEY, CodeSettings()).record["isrc"]
    assert streamed.result.fields["isrc"] == isrc
    first = next(e for e in events if e.field == "isrc")  # reported while streaming, not only at the end
    assert first.value == isrc and first.time_s < 12.0


def test_streaming_detect_at_another_rate_matches_offline(music: np.ndarray, demo_record: dict, model) -> None:
    from soundsafe.audio.io import resample

    marked = embed(resample(music, SR, 48000), 48000, demo_record, KEY, model)
    offline = detect(marked, 48000, KEY, model)
    detector = StreamingDetector(48000, KEY, model, sync_chunks=8)
    for block in _blocks(marked, 3):
        detector.push(block)
    streamed = detector.finish()
    assert streamed.result.fields == offline.result.fields and streamed.result.fields.get("isrc")
    np.testing.assert_allclose(streamed.chunk_starts_s, offline.chunk_starts_s, atol=1e-3)
    np.testing.assert_allclose(streamed.llr, offline.llr, atol=1e-2)  # the stream resampler rounds differently


def test_detector_finds_a_mark_that_starts_mid_stream(music: np.ndarray, demo_record: dict, model) -> None:
    """Unmarked audio first (the grid it locks on is wrong), then marked audio: the lost lock is searched again."""
    intro = music[: int(6.3 * SR)]
    marked = embed(music, SR, demo_record, KEY, model)
    detector = StreamingDetector(SR, KEY, model)
    events = [e for a in (intro, marked) for block in _blocks(a, 4) for e in detector.push(block)]
    found = detector.finish()
    assert found.result.fields.get("isrc") and any(e.field == "isrc" and e.time_s > 6.3 for e in events)
    assert not any(found.marked[i] for i, t in enumerate(found.chunk_starts_s) if t + 1.0 < 6.3)
    assert StreamingDetector(SR, KEY, model).finish().result.fields == {}  # nothing pushed: nothing read


def test_wav_stream_round_trip_and_errors(tmp_path: Path) -> None:
    audio = (np.random.default_rng(0).uniform(-0.9, 0.9, (5000, 2))).astype(np.float32)
    for subtype, tolerance in (("PCM_16", 1 / 32768), ("FLOAT", 0.0)):
        buffer = io.BytesIO()
        writer = WavStreamWriter(buffer, 22050, 2, subtype)
        writer.write(audio[:1234])
        writer.write(audio[1234:])
        writer.close()  # BytesIO can seek: the real sizes are written back
        back, sr = sf.read(io.BytesIO(buffer.getvalue()), dtype="float32")
        assert sr == 22050 and np.abs(back - audio).max() <= tolerance
        reader = WavStreamReader(io.BytesIO(buffer.getvalue()))
        streamed = np.concatenate(list(reader.blocks(777)))
        assert reader.sr == 22050 and np.abs(streamed - audio).max() <= tolerance
    path = tmp_path / "x24.wav"
    sf.write(path, audio, 8000, subtype="PCM_24")  # a 24-bit file, as many DAWs write
    reader = WavStreamReader(io.BytesIO(path.read_bytes()))
    assert np.abs(np.concatenate(list(reader.blocks(1000))) - audio).max() < 1e-6
    with pytest.raises(WavStreamError, match="not a RIFF/WAVE"):
        WavStreamReader(io.BytesIO(b"ID3\x03" + bytes(40)))


def test_cli_embeds_and_detects_over_pipes(music: np.ndarray, demo_record: dict, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOUNDSAFE_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)  # no trained model here: the CLI uses the untrained carrier, like `model`
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(demo_record))
    wav = io.BytesIO()
    sf.write(wav, music[: 12 * SR], SR, format="WAV", subtype="PCM_16")
    cli = [sys.executable, "-m", "soundsafe"]
    marked = subprocess.run([*cli, "embed", "-", "-", "--metadata", str(meta)], input=wav.getvalue(),
                            capture_output=True, check=True)
    summary = json.loads(marked.stderr.decode().strip().splitlines()[-1])
    assert summary["chunks_marked"] == 12 and summary["snr_db"] > 25
    follow = subprocess.run([*cli, "detect", "-", "--follow"], input=marked.stdout, capture_output=True)
    lines = [json.loads(line) for line in follow.stdout.decode().splitlines()]
    assert follow.returncode == 3, follow.stderr.decode()  # 12 s: the core fields, not the whole record
    isrc = next(line for line in lines if line.get("field") == "isrc")
    assert isrc["event"] == "field" and isrc["value"] == "USRC17607839" and 0 < isrc["time_s"] <= 12
    assert lines[-1]["event"] == "end" and "isrc" not in lines[-1]["missing"]
    bad = subprocess.run([*cli, "detect", "-"], input=b"not a wav at all, just bytes", capture_output=True)
    assert bad.returncode == 1 and b"not a RIFF/WAVE stream" in bad.stderr


def test_onnx_export_matches_torch_and_runs_the_api(music: np.ndarray, demo_record: dict, model,
                                                   tmp_path: Path) -> None:
    from soundsafe.watermark.engine import OnnxEngine, TorchEngine, load_engine
    from soundsafe.watermark.export import export_onnx

    folder = tmp_path / "onnx"
    card = export_onnx(model, folder, source="untrained carrier")
    graphs = ["detector", "embedder", "spectral_detector", "spectral_pass", "spectral_shaper"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{g}.onnx" for g in graphs] + [f"{g}.int8.onnx" for g in graphs] + ["model.json"])
    assert card["config"]["bits"] == 64
    torch_engine = TorchEngine(model)
    spectral, graph = OnnxEngine(folder, threads=1), OnnxEngine(folder, threads=1, form="graph")
    assert spectral.form == "spectral" and graph.form == "graph"
    host = music[: 3 * SR].mean(axis=1).reshape(3, SR)  # a batch size the export never saw (dynamic axis)
    bits = np.random.default_rng(0).integers(0, 2, (3, 64)).astype(np.float32)
    marked = torch_engine.embed_chunks(host, bits, KEY.carrier_seed)
    reference = torch_engine.statistics(marked, KEY.carrier_seed)
    for engine in (spectral, graph):  # STFT in SciPy around the graphs, or inside ONNX Runtime: same arithmetic
        assert np.abs(engine.embed_chunks(host, bits, KEY.carrier_seed) - marked).max() < 1e-4, engine.origin
        assert np.abs(engine.statistics(marked, KEY.carrier_seed) - reference).max() < 1e-3, engine.origin
    for name in ("detector.int8.onnx", "spectral_detector.int8.onnx"):
        int8 = load_engine(folder / name, threads=1)
        assert int8.precision == "int8" and int8.form == ("spectral" if name.startswith("spectral") else "graph")
        assert ((int8.statistics(marked, KEY.carrier_seed) > 0) == (bits > 0)).mean() >= 0.99
    onnx_marked = embed(music, SR, demo_record, KEY, folder)  # the whole API on ONNX Runtime
    assert detect(onnx_marked, SR, KEY, folder).result.fields["isrc"] == "USRC17607839"
    with pytest.raises(FileNotFoundError, match=r"model\.json"):
        OnnxEngine(tmp_path)
    for spectral_file in folder.glob("spectral_*"):  # an export from before the spectral graphs: graph form
        spectral_file.unlink()
    assert OnnxEngine(folder, threads=1).form == "graph"
    with pytest.raises(FileNotFoundError, match=r"spectral_shaper\.onnx"):
        OnnxEngine(folder, form="spectral")
    with pytest.raises(ValueError, match="form must be"):
        OnnxEngine(folder, form="audio")


def test_host_spectral_is_the_carriers_stft() -> None:
    """The NumPy/SciPy STFT the spectral ONNX engine runs equals the torch one the model was trained with."""
    import torch

    from soundsafe.watermark.host_spectral import HostSpectral
    from soundsafe.watermark.spectral import istft, stft

    x = np.random.default_rng(3).standard_normal((2, SR)).astype(np.float32) * 0.1
    host = HostSpectral(2048, 441, SR)
    window = torch.hann_window(2048)
    reference = stft(torch.from_numpy(x), 2048, 441, window).numpy()
    spec = host.stft(x)
    assert spec.shape == reference.shape == (2, 101, 1025) and spec.dtype == np.complex64
    assert np.abs(spec - reference).max() < 1e-5 * np.abs(reference).max()
    assert np.abs(host.magnitude(spec) - np.abs(reference)).max() < 1e-4
    back = host.istft(spec)
    assert np.abs(back - x).max() < 1e-5  # least-squares overlap-add inverts the STFT
    partial = spec.copy()
    partial[:, :, :200] = 0  # a band-limited change, as an embedding pass makes
    expected = istft(torch.from_numpy(partial), 2048, 441, window, SR).numpy()
    assert np.abs(host.istft(partial) - expected).max() < 1e-6


def test_mark_strength_measures_shape_not_level() -> None:
    """0 for Gaussian scatter (unmarked audio), 1 for bits all at ±a whatever a is, 0 for digital silence."""
    from soundsafe.watermark.streaming import MARK_THRESHOLD
    from soundsafe.watermark.sync import mark_strength

    rng = np.random.default_rng(0)
    null = mark_strength(rng.normal(0, 0.4, (20000, 64)))
    assert null.mean() < 0.1 and np.quantile(null, 0.999) < MARK_THRESHOLD + 0.25
    signs = rng.choice([-1.0, 1.0], (2000, 64))
    for level in (0.05, 0.4, 1.2, 30.0):
        np.testing.assert_allclose(mark_strength(level * signs), 1.0)
    # a mark at a third of its margin, under noise that leaves 99 % of its bits right, reads as marked
    weak = mark_strength(0.4 * signs + rng.normal(0, 0.16, signs.shape))
    assert np.mean(weak >= MARK_THRESHOLD) > 0.99 and np.mean(null >= MARK_THRESHOLD) < 0.05
    assert mark_strength(np.zeros((3, 64))).tolist() == [0.0, 0.0, 0.0]


def test_detect_reads_a_mark_that_arrives_weak_in_a_quiet_carrier_band(music: np.ndarray, demo_record: dict,
                                                                       model) -> None:
    """Bass-heavy real music: a loud bass note sets the level floor, so most carrier-band cells sit at it and
    the mark arrives at a fraction of its margin. The presence score must look at its shape, not its level."""
    t = np.arange(len(music)) / SR
    host = (0.7 * np.sin(2 * np.pi * 55 * t)[:, None] + 10 ** (-25 / 20) * music).astype(np.float32)
    marked = embed(host, SR, demo_record, KEY, model)
    with torch.no_grad():
        stats = model.statistics(torch.from_numpy(marked[: 8 * SR].mean(1).reshape(8, SR)), KEY.carrier_seed)
    old_score = float((stats.abs() >= 0.6 * model.config.margin_db).float().mean())  # the old presence score
    assert old_score < 0.3  # it wanted 0.62 to call a chunk marked
    found = detect(marked, SR, KEY, model)
    assert found.result.fields.get("isrc") == encode_payload(demo_record, KEY, CodeSettings()).record["isrc"]
    unmarked = detect(host, SR, KEY, model)
    assert not unmarked.result.fields and unmarked.marked_fraction < 0.2


def test_speed_search_reads_audio_played_fast_or_slow(music: np.ndarray, demo_record: dict, model,
                                                      tmp_path: Path) -> None:
    """A 2 % speed change moves every tile off its place; the search finds the factor and undoes it."""
    from soundsafe.watermark.layout import carrier_layout
    from soundsafe.watermark.speed import estimate_speed

    isrc = encode_payload(demo_record, KEY, CodeSettings()).record["isrc"]
    marked = embed(music, SR, demo_record, KEY, model)
    assert detect(marked, SR, KEY, model, speed_search=True).speed == 1.0  # no speed change: read as it is
    for strength, factor in (("+2%", 1.02), ("-2%", 0.98)):
        fast = apply_attack("speed", marked, SR, strength)
        assert not detect(fast, SR, KEY, model).result.fields.get("isrc")
        found = detect(fast, SR, KEY, model, speed_search=True)
        assert found.result.fields.get("isrc") == isrc and abs(found.speed - factor) <= 0.0025
        assert found.chunk_starts_s[-1] <= fast.shape[0] / SR  # chunk times are in the input's time
    layout = carrier_layout(model.config, KEY.carrier_seed)
    unmarked = detect(apply_attack("speed", music, SR, "+2%"), SR, KEY, model, speed_search=True)
    assert not unmarked.result.fields
    assert estimate_speed(music[: 2 * SR].mean(1), model.config, layout).score < 0.5  # nothing to find
    path, key_file = tmp_path / "fast.wav", tmp_path / "secret.key"
    sf.write(path, apply_attack("speed", marked, SR, "+2%"), SR, subtype="FLOAT")
    key_file.write_bytes(b"s" * 32)  # KEY's secret (raw bytes: not hex)
    cli = subprocess.run([sys.executable, "-m", "soundsafe", "detect", str(path), "--detect-speed", "--json",
                          "--model", "carrier", "-q", "--key-file", str(key_file)],
                         capture_output=True, text=True)
    assert cli.returncode in (0, 3), cli.stderr
    out = json.loads(cli.stdout)
    assert out["fields"]["isrc"] == isrc and abs(out["speed"] - 1.02) <= 0.0025
    both = subprocess.run([sys.executable, "-m", "soundsafe", "detect", str(path), "--detect-speed", "--follow",
                           "-q"], capture_output=True, text=True)
    assert both.returncode == 2 and "cannot --follow" in both.stderr


def test_speed_search_reads_a_pitch_shift(music: np.ndarray, demo_record: dict, model) -> None:
    """±50 cents with tempo kept (Rubber Band): the search finds the factor that restores the pitch, and the
    read as a pitch shift (chunks that factor apart after the resampling) is the one kept."""
    isrc = encode_payload(demo_record, KEY, CodeSettings()).record["isrc"]
    marked = embed(music, SR, demo_record, KEY, model)
    for strength, cents in (("+50c", 50), ("-50c", -50)):
        shifted = apply_attack("pitch_shift", marked, SR, strength)
        assert not detect(shifted, SR, KEY, model).result.fields.get("isrc")
        found = detect(shifted, SR, KEY, model, speed_search=True)
        assert found.result.fields.get("isrc") == isrc, strength
        assert found.pitch_only and abs(found.speed - 2 ** (cents / 1200)) <= 0.0025
        assert found.marked_fraction > 0.8
        steps = np.diff([t for t, m in zip(found.chunk_starts_s, found.marked, strict=True) if m])
        assert abs(float(np.median(steps)) - 1.0) <= 0.011  # chunk times in the input's time: tempo unchanged
    with pytest.raises(ValueError, match="tempo must be within"):
        StreamingDetector(SR, KEY, model, tempo=1.2)  # beyond what the speed search can find


def test_a_stretched_chunk_reads_better_at_its_tempo(music: np.ndarray, demo_record: dict, model) -> None:
    """A whole chunk stretched 3 % (pitch kept) read with its frames warped to the tempo: a clearer mark than the
    nominal read of its first second, whose last rows are 3 hops off; at tempo 1 the warped read is the STFT."""
    from pedalboard import time_stretch

    from soundsafe.watermark.engine import load_engine
    from soundsafe.watermark.host_spectral import stft, warped_magnitude
    from soundsafe.watermark.sync import mark_strength

    c, engine = model.config, load_engine(model)
    x = np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32)
    assert np.array_equal(warped_magnitude(x, c.n_fft, c.hop, 1 + c.frames, 1.0), np.abs(stft(x, c.n_fft, c.hop)))
    marked = embed(music[: 6 * SR], SR, demo_record, KEY, model).mean(axis=1)
    bits = encode_payload(demo_record, KEY).chunk_bits(6)
    tempo = 1.03
    slow = time_stretch(marked[None].astype(np.float32), float(SR), stretch_factor=1 / tempo)[0]
    warped, nominal = [], []
    for k in (1, 2, 3, 4):
        start = round(k * SR * tempo)
        chunk = slow[start: start + round(SR * tempo)][None]
        magnitude = warped_magnitude(chunk, c.n_fft, c.hop, 1 + c.frames, tempo)
        at_tempo = engine.magnitude_statistics(magnitude, KEY.carrier_seed)
        plain = engine.statistics(chunk[:, :SR], KEY.carrier_seed)
        warped.append((float(mark_strength(at_tempo)[0]), ((at_tempo[0] > 0) == bits[k]).mean()))
        nominal.append((float(mark_strength(plain)[0]), ((plain[0] > 0) == bits[k]).mean()))
    assert np.mean([w[0] for w in warped]) > np.mean([n[0] for n in nominal]) + 0.05, (warped, nominal)
    assert min(w[1] for w in warped) >= 0.95, warped


def test_tempo_search_reads_time_stretched_3s_excerpts(music: np.ndarray, demo_record: dict, model) -> None:
    """A 2 % time-stretch (pitch kept) inside a 3 s excerpt: the detector alone sees its two chunks where it
    expects them and reads the partial chunks at the wrong tempo; the tempo search finds the tempo (to 0.5 %)
    and the read at it yields the ISRC."""
    from soundsafe.watermark.layout import carrier_layout
    from soundsafe.watermark.speed import estimate_tempo

    isrc = encode_payload(demo_record, KEY, CodeSettings()).record["isrc"]
    marked = embed(music, SR, demo_record, KEY, model)
    layout = carrier_layout(model.config, KEY.carrier_seed)
    for strength, tempo in (("+2%", 1 / 1.02), ("-2%", 1 / 0.98)):
        stretched = apply_attack("time_stretch", marked, SR, strength)
        found_tempo = []
        for start_s in (2.3, 5.55, 12.8):
            s = round(start_s * SR)
            found = detect(stretched[s: s + 3 * SR], SR, KEY, model, speed_search=True)
            assert found.result.fields.get("isrc") == isrc, (strength, start_s)
            found_tempo.append(found.tempo)
        assert np.median(np.abs(np.array(found_tempo) - tempo)) <= 0.005, found_tempo
        assert abs(estimate_tempo(stretched[2 * SR: 7 * SR].mean(1), model.config, layout).factor - tempo) <= 0.005
    nothing = estimate_tempo(music[SR: 4 * SR].mean(1), model.config, layout)
    assert nothing.score < 0.3 and nothing.unchanged_score < 0.3  # unmarked audio: no tempo, no extra read


def test_detector_follows_a_tempo_change(music: np.ndarray, demo_record: dict, model) -> None:
    """Time-stretched by 2 %, each chunk starts 20 ms (2 hops) after the last one ends: the prediction follows."""
    marked = embed(music, SR, demo_record, KEY, model)
    for strength in ("+2%", "-2%"):
        slow = apply_attack("time_stretch", marked, SR, strength)
        period = slow.shape[0] / marked.shape[0]  # seconds of the stretched audio per second of the original
        found = detect(slow, SR, KEY, model)
        assert found.result.fields.get("isrc") == encode_payload(demo_record, KEY, CodeSettings()).record["isrc"]
        steps = np.diff([t for t, m in zip(found.chunk_starts_s, found.marked, strict=True) if m])
        assert abs(float(np.median(steps)) - period) <= 0.011  # within a hop of the stretched chunk length


def test_chunk_units_follow_the_detectors_grid() -> None:
    from soundsafe.evaluation.systems import _chunk_units

    starts = np.append(np.arange(30) * 1.02, [40.0, 41.0])  # a 2 % drift, then a jump (a new grid)
    assert _chunk_units(starts, 1.0).tolist() == [*range(30), 40, 41]  # rounding would make chunk 25 the 26th
    assert _chunk_units(np.array([0.0, 1.0, 2.0]), 1.0).tolist() == [0, 1, 2]


def test_any_3s_excerpt_yields_the_isrc(music: np.ndarray, demo_record: dict, model) -> None:
    """The core layer: two whole chunks plus the parts of the chunks at the excerpt's edges hold all three core
    segments, whatever the offset (chunk starts at whole seconds)."""
    marked = embed(music, SR, demo_record, KEY, model)
    for start_s in (2.0, 3.13, 4.5, 6.87, 12.4, 15.55):  # inside the two tracks (the first fades out at 10 s)
        s = round(start_s * SR)
        found = detect(marked[s: s + 3 * SR], SR, KEY, model)
        assert found.result.fields.get("isrc") == "USRC17607839", start_s
    assert detect(music[SR: 4 * SR], SR, KEY, model).result.fields == {}


def test_partial_statistics_read_the_rows_a_part_holds(music: np.ndarray, demo_record: dict, model) -> None:
    from soundsafe.watermark.layout import carrier_layout
    from soundsafe.watermark.sync import partial_statistics

    c = model.config
    marked = embed(music[: 4 * SR], SR, demo_record, KEY, model).mean(axis=1)
    bits = encode_payload(demo_record, KEY).chunk_bits(4)
    layout = carrier_layout(c, KEY.carrier_seed)
    chunk = marked[SR: 2 * SR]
    agree = []
    for skip in (0, 30 * c.hop, 60 * c.hop, 60 * c.hop + 7):  # the last 70 / 40 / 10 % (off the hop grid too)
        stats = partial_statistics(chunk[skip:], -skip, c, layout)
        assert stats is not None and stats.shape == (c.bits,)
        agree.append(float(((stats > 0) == bits[1]).mean()))
    head = partial_statistics(chunk[: SR // 2], 0, c, layout)  # … and the first half
    assert head is not None and ((head > 0) == bits[1]).mean() > 0.8
    assert agree[0] > 0.95 and min(agree) > 0.7, agree
    # a part holds a share of each bit's tiles: its statistics shrink with it
    full = partial_statistics(chunk, 0, c, layout)
    tenth = partial_statistics(chunk[90 * c.hop:], -90 * c.hop, c, layout)
    assert tenth is None or np.abs(tenth).mean() < 0.3 * np.abs(full).mean()
    assert partial_statistics(chunk[: c.n_fft], 0, c, layout) is None


def test_partial_statistics_follow_a_time_stretch(music: np.ndarray, demo_record: dict, model) -> None:
    """The head of a chunk stretched 3 % longer (tempo kept in pitch: Rubber Band): its rows read at the stretched
    geometry agree with the bits better than at the nominal one, which is 1-3 hops off in the rows it holds."""
    from pedalboard import time_stretch

    from soundsafe.watermark.layout import carrier_layout
    from soundsafe.watermark.sync import partial_statistics

    c = model.config
    marked = embed(music[: 4 * SR], SR, demo_record, KEY, model).mean(axis=1)
    bits = encode_payload(demo_record, KEY).chunk_bits(4)
    layout = carrier_layout(c, KEY.carrier_seed)
    tempo = 1.03
    slow = time_stretch(marked[None].astype(np.float32), float(SR), stretch_factor=1 / tempo)[0]
    chunk_start = round(2 * SR * tempo)  # chunk 2, stretched
    tail = slow[chunk_start + round(0.4 * SR * tempo): chunk_start + round(SR * tempo)]  # its last 60 %
    start = -0.4 * SR * tempo
    right = partial_statistics(tail, start, c, layout, tempo)
    nominal = partial_statistics(tail, round(tail.size - SR), c, layout)  # anchored at its end, nominal rows
    assert right is not None and nominal is not None
    agree_right, agree_nominal = ((right > 0) == bits[2]).mean(), ((nominal > 0) == bits[2]).mean()
    assert agree_right > 0.9 and agree_right > agree_nominal, (agree_right, agree_nominal)


def test_a_chunk_cut_by_the_reads_start_is_a_partial_not_a_shifted_read(music: np.ndarray, demo_record: dict,
                                                                       model) -> None:
    """An excerpt that opens 10-20 ms after a chunk boundary: the first chunk read starts on the grid (0.98 s
    in), and the cut chunk's soft bits come from the rows it holds; a read shifted onto the audio was 10-20 ms
    off its grid and gave confident wrong bits (a 3 s excerpt then missed the ISRC)."""
    marked = embed(music, SR, demo_record, KEY, model)
    for cut_ms in (10, 20):
        s = 4 * SR + cut_ms * SR // 1000
        found = detect(marked[s: s + 3 * SR], SR, KEY, model)
        assert found.chunk_starts_s[0] == pytest.approx(1 - cut_ms / 1000, abs=0.011), found.chunk_starts_s
        assert found.result.fields.get("isrc") == "USRC17607839"
