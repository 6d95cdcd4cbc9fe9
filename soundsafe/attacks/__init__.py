"""One registry of real (evaluation) and differentiable (training) audio attacks; see ``registry`` and ``sampler``."""

from soundsafe.attacks.base import Attack, AttackError, AttackInputError, Strength
from soundsafe.attacks.registry import ATTACKS, apply_attack, apply_training_attack, get_attack, list_attacks

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackError",
    "AttackInputError",
    "Strength",
    "apply_attack",
    "apply_training_attack",
    "get_attack",
    "list_attacks",
]
