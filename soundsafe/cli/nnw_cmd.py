"""``soundsafe nnw keygen|layers|mark|verify``: ownership marks in a model's weights (MPAI-NNW, seed 004)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["add_nnw_parser", "run_nnw"]

_EPILOG = """examples:
  soundsafe nnw layers models/fingerprint/model.pt          # which layers can carry a mark
  soundsafe nnw keygen owner.key --layer body.12.weight      # a new secret key (file mode 0600)
  soundsafe nnw mark models/fingerprint/model.pt marked.pt --key owner.key --owner 7 --model-id 20261207
  soundsafe nnw verify marked.pt --key owner.key             # a torch checkpoint or an ONNX file (fp32, int8)
  soundsafe nnw verify models/fingerprint/encoder.onnx --key owner.key   # exit 1: the unmarked original

verify prints JSON {"found", "owner", "model", "tag_errors", "p_value", "strength", "layer", "candidates"} and
exits 0 when the key's mark is found, 1 when it is not (or on an error). The payload is 96 bits: owner ID (32),
model ID (32) and the key's 32-bit tag; "found" means at most 2 tag bits read wrong, which an unmarked model does
with probability 1.2e-7 ("p_value" is this chance for the errors seen, times the number of layers tried). When
the key's layer name is not in the file (an exporter renamed it), every layer of the same shape is tried.
"""


def add_nnw_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("nnw", help="ownership marks in a model's weights (MPAI-NNW)",
                            description="White-box ownership marks: a keyed secret projection of one layer's "
                                        "weights carries owner ID, model ID and the key's tag.",
                            epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    nsub = parser.add_subparsers(dest="nnw_command", required=True, metavar="ACTION")
    keygen = nsub.add_parser("keygen", help="write a new secret key file")
    keygen.add_argument("key", type=Path, help="key file to write (refused if it exists: it may be the only copy)")
    keygen.add_argument("--layer", required=True, help="parameter that will carry the mark (see `nnw layers`)")
    keygen.add_argument("--margin", type=float, default=1.5,
                        help="how far past its sign each bit is pushed, in spreads of an unmarked layer "
                             "(default 1.5; larger: more robust, larger weight change)")
    layers = nsub.add_parser("layers", help="list a model's layers and whether each can carry a mark")
    layers.add_argument("model", type=Path, help="torch checkpoint (.pt) or ONNX file")
    mark = nsub.add_parser("mark", help="write a copy of a checkpoint that carries the key's mark")
    mark.add_argument("model", type=Path, help="torch checkpoint (.pt) to mark")
    mark.add_argument("out", type=Path, help="marked checkpoint to write")
    mark.add_argument("--key", type=Path, required=True, help="key file (`soundsafe nnw keygen`)")
    mark.add_argument("--owner", type=_id, required=True, help="owner ID, 0 … 2^32 − 1 (decimal or 0x hex)")
    mark.add_argument("--model-id", type=_id, required=True, help="model ID, 0 … 2^32 − 1 (decimal or 0x hex)")
    verify = nsub.add_parser("verify", help="read the mark of a key from a model's weights")
    verify.add_argument("model", type=Path, help="torch checkpoint (.pt) or ONNX file")
    verify.add_argument("--key", type=Path, required=True, help="key file")


def _id(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer ID: {text!r}") from None


def run_nnw(args: argparse.Namespace) -> int:
    try:
        return {"keygen": _keygen, "layers": _layers, "mark": _mark, "verify": _verify}[args.nnw_command](args)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"soundsafe nnw: error: {message}", file=sys.stderr)
        return 1


def _keygen(args: argparse.Namespace) -> int:
    from soundsafe.nnw.key import NnwKey

    if args.key.exists():
        raise ValueError(f"{args.key}: exists; a key may be the only copy of a secret, so it is never overwritten "
                         "(pick another path, or delete it yourself)")
    NnwKey.generate(args.layer, args.margin).save(args.key)
    print(f"wrote {args.key} (layer {args.layer}, margin {args.margin}); keep it secret and backed up")
    return 0


def _layers(args: argparse.Namespace) -> int:
    from soundsafe.nnw.key import PAYLOAD_BITS
    from soundsafe.nnw.weights import load_state

    state = load_state(args.model)
    print(f"{'layer':40s} {'shape':22s} {'weights':>9s}  carries {PAYLOAD_BITS} bits")
    for name, w in state.items():
        if w.ndim >= 2:
            ok = "yes" if w.size >= 4 * PAYLOAD_BITS else "no (too small)"
            print(f"{name:40s} {tuple(w.shape)!s:22s} {w.size:9d}  {ok}")
    return 0


def _mark(args: argparse.Namespace) -> int:
    import numpy as np

    from soundsafe.nnw.key import NnwKey, pack_payload
    from soundsafe.nnw.weights import layer, load_state, write_marked
    from soundsafe.nnw.whitebox import insert, verify

    key = NnwKey.load(args.key)
    weight = layer(load_state(args.model), key.layer, args.model)
    start = time.perf_counter()
    marked = insert(weight, key, pack_payload(args.owner, args.model_id, key))
    seconds = time.perf_counter() - start
    write_marked(args.model, args.out, key.layer, marked)
    check = verify(layer(load_state(args.out), key.layer, args.out), key)
    change = float(np.linalg.norm(marked - weight) / np.linalg.norm(weight))
    print(json.dumps({"out": str(args.out), "layer": key.layer, "relative_change": round(change, 4),
                      "insert_s": round(seconds, 3), **check.to_dict()}))
    return 0 if check.found else 1


def _verify(args: argparse.Namespace) -> int:
    from soundsafe.nnw.key import NnwKey
    from soundsafe.nnw.weights import load_state
    from soundsafe.nnw.whitebox import verify_state

    key = NnwKey.load(args.key)
    result, layer, tried = verify_state(load_state(args.model), key, str(args.model))
    print(json.dumps({**result.to_dict(), "layer": layer, "candidates": tried}))
    return 0 if result.found else 1
