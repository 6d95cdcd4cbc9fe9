"""The attack registry: every attack by name, and the two ways to run one (evaluation and training)."""

from __future__ import annotations

from typing import Any

import numpy as np

from soundsafe.attacks import chains, codecs, concert, dynamics, filters, levels, noise, reverb, timing
from soundsafe.attacks.base import Attack, AttackError, AttackInputError
from soundsafe.audio.checks import check_audio

__all__ = ["ATTACKS", "apply_attack", "apply_training_attack", "get_attack", "list_attacks"]

ATTACKS: dict[str, Attack] = {
    attack.name: attack
    for module in (codecs, noise, filters, levels, dynamics, reverb, timing, concert, chains)
    for attack in module.ATTACKS
}


def get_attack(name: str) -> Attack:
    """The registered attack called ``name``, or :class:`AttackError` naming the choices."""
    try:
        return ATTACKS[name]
    except KeyError:
        raise AttackError(f"unknown attack {name!r}; see `soundsafe attack list` ({', '.join(ATTACKS)})") from None


def list_attacks(family: str | None = None) -> list[Attack]:
    """Registered attacks in registry order, optionally of one family."""
    return [a for a in ATTACKS.values() if family is None or a.family == family]


def apply_attack(name: str, audio: Any, sr: int, strength: str | None = None, seed: int = 0) -> np.ndarray:
    """Run the evaluation form of attack ``name`` on ``(frames, channels)`` (or 1-D mono) audio.

    Deterministic for a given ``seed``. The result is float32 ``(frames', channels)`` (1-D when the input was 1-D),
    at the input's sample rate; ``frames'`` follows the attack's documented length contract.
    """
    attack = get_attack(name)
    params = attack.strength(strength).params
    x = check_audio(audio, sr, what=name, error=AttackInputError)
    out = attack.evaluate(x, int(sr), params, np.random.default_rng(seed))
    if out.ndim != 2 or out.shape[1] != x.shape[1]:
        raise AttackError(f"{name}: produced shape {out.shape} from {x.shape} (channel count must be kept)")
    if not np.all(np.isfinite(out)):
        raise AttackError(f"{name}: produced non-finite samples; this is a bug, please report it with the input")
    out = out.astype(np.float32, copy=False)
    return out[:, 0] if np.asarray(audio).ndim == 1 else out


def apply_training_attack(name: str, x: Any, sr: int, strength: str | None = None, generator: Any = None) -> Any:
    """Run the training form of ``name`` on a ``(batch, channels, samples)`` tensor (gradients flow through)."""
    import torch

    attack = get_attack(name)
    if attack.train is None:
        raise AttackError(f"attack {name!r} has no training form")
    if x.dim() != 3 or x.shape[-1] == 0:
        raise AttackInputError(f"{name}: training input must be (batch, channels, samples), got {tuple(x.shape)}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    return attack.train(x, int(sr), attack.strength(strength).params, generator)
