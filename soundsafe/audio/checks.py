"""Input checks for audio arrays handed to the library (attacks, embed, detect)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["AudioInputError", "check_audio"]


class AudioInputError(ValueError):
    """Audio that cannot be processed: empty, NaN, wrong shape, bad sample rate."""


def check_audio(audio: Any, sr: Any, *, what: str = "audio",
                error: type[AudioInputError] = AudioInputError) -> np.ndarray:
    """Validate audio and return it as float32 ``(frames, channels)``.

    1-D input is treated as mono; integer PCM is scaled to [-1, 1]. Raises ``error`` (an
    :class:`AudioInputError`) with what is wrong and what to do, prefixed by ``what``.
    """
    if not isinstance(sr, int | np.integer) or isinstance(sr, bool) or sr <= 0:
        raise error(f"{what}: sample rate must be a positive integer in Hz, got {sr!r}")
    array = np.asarray(audio)
    if array.dtype.kind not in "fiu":
        raise error(f"{what}: audio must be a numeric array, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise error(f"{what}: audio must be (frames,) or (frames, channels), got shape {array.shape}")
    frames, channels = array.shape
    if frames == 0 or channels == 0:
        raise error(f"{what}: audio is empty (shape {array.shape}); nothing to process")
    if channels > 16 and frames <= 16:
        raise error(f"{what}: shape {array.shape} looks like (channels, frames); "
                               "pass (frames, channels), e.g. audio.T")
    if array.dtype.kind in "iu":  # integer PCM: scale to [-1, 1]
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise error(f"{what}: audio has {bad} NaN or infinite samples; fix or drop the source first")
    return array
