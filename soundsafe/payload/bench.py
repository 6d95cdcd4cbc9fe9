"""What each code setting tolerates: recovery rates through the simulated channel, swept over BER and loss."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from soundsafe.payload.channel import simulate_channel
from soundsafe.payload.decoder import decode_stream
from soundsafe.payload.keys import DEMO_KEY
from soundsafe.payload.packets import PRESETS, CodeSettings, encode_payload

__all__ = ["channel_sweep"]


def channel_sweep(record: Any, *, codes: Sequence[str], bers: Sequence[float], losses: Sequence[float],
                  cycles: float = 2.0, trials: int = 10, model: Literal["awgn", "bsc"] = "awgn", seed: int = 0,
                  make_settings: Callable[[str], CodeSettings] | None = None) -> list[dict[str, Any]]:
    """One row per (code, BER, loss): share of trials that read the ISRC and the whole record.

    Each trial embeds ``cycles`` schedule cycles from a random start position, passes them through the
    channel and decodes; audio length is counted in chunks (seconds at one chunk per second).
    """
    rows = []
    for code in codes:
        settings = make_settings(code) if make_settings else PRESETS[code]
        encoded = encode_payload(record, DEMO_KEY, settings)
        n = max(1, round(cycles * encoded.cycle_chunks))
        for ber in bers:
            for loss in losses:
                rng = np.random.default_rng([seed, round(ber * 1e6), round(loss * 1e6)])
                isrc = full = 0
                seconds = []
                for _ in range(trials):
                    bits = encoded.chunk_bits(n, int(rng.integers(0, encoded.cycle_chunks)))
                    llrs = simulate_channel(bits, ber=ber, loss=loss, rng=rng, model=model)
                    t0 = time.perf_counter()
                    result = decode_stream([llrs], DEMO_KEY, settings)
                    seconds.append(time.perf_counter() - t0)
                    isrc += result.fields.get("isrc") == encoded.record["isrc"]
                    full += result.complete and result.fields == encoded.record
                rows.append({"code": code, "ber": ber, "loss": loss, "chunks": n, "trials": trials,
                             "isrc_rate": isrc / trials, "full_rate": full / trials,
                             "decode_seconds_median": statistics.median(seconds)})
    return rows
