"""Making the cloak: error-minimizing noise found by min–min optimisation (Huang et al. 2021's unlearnable
examples, for generative models as HarmonyCloak does).

White-box: the defender knows the model. Alternate (a) ``train_steps`` updates of the surrogates on the cloaked
music, and (b) ``pgd_steps`` of projected gradient descent on the noise δ to *lower* their training loss on
``x + δ``: the music becomes easy in a way the model can learn quickly instead of the music itself, so a model
trained on it finds little left to learn. δ stays in the psychoacoustic budget (:mod:`soundsafe.cloak.budget`)
after every step.

Black-box: the defender does not know the model. The noise is meta-learned over several surrogates of different
architectures: each PGD step lowers the loss each surrogate would have *after* one simulated update on the cloaked
batch (MAML's inner step, differentiated through), so the noise works for how models learn from it, not for one
set of weights. As in meta-learning for domain generalisation, each PGD step holds one surrogate out in turn
(meta-test: its plain loss) while the others (meta-train) give their post-update losses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call

from soundsafe.cloak.budget import Budget, BudgetSpec, project
from soundsafe.cloak.models import ModelKind, build_model, log_mel
from soundsafe.progress import progress

__all__ = ["CloakResult", "CloakSpec", "make_cloak"]


@dataclass(frozen=True)
class CloakSpec:
    """How a cloak is optimised."""

    rounds: int = 10
    train_steps: int = 20  # surrogate updates per round
    pgd_steps: int = 5  # noise updates per round
    step: float = 0.5  # a PGD step, as a fraction of the noise RMS that the SNR floor allows
    crop_s: float = 2.0  # surrogate training excerpts
    batch: int = 8
    lr: float = 1e-3
    inner_lr: float = 1e-2  # black-box: the simulated update's learning rate
    budget: BudgetSpec = field(default_factory=BudgetSpec)


@dataclass
class CloakResult:
    """The noise per track and what the optimisation saw."""

    deltas: list[np.ndarray]
    surrogate_loss: list[float]  # the surrogates' training loss on the cloaked music, per round
    cloaked_loss: list[float]  # their loss on the cloaked tracks after each round's PGD
    clean_loss: list[float]  # and on the clean tracks


def _crops(tracks: list[torch.Tensor], deltas: list[torch.Tensor], length: int, batch: int,
           rng: np.random.Generator) -> torch.Tensor:
    rows = []
    for _ in range(batch):
        i = int(rng.integers(len(tracks)))
        start = int(rng.integers(0, max(tracks[i].numel() - length, 1)))
        rows.append((tracks[i] + deltas[i])[start: start + length])
    return torch.stack(rows)


def make_cloak(tracks: list[np.ndarray], kinds: list[ModelKind], spec: CloakSpec, *, seed: int = 0,
               blackbox: bool = False, label: str = "cloak",
               log: Callable[[dict[str, float], int], None] | None = None) -> CloakResult:
    """Error-minimizing noise for ``tracks`` (mono 44.1 kHz) against surrogates of ``kinds`` trained alongside
    (white-box), or meta-learned over them (``blackbox``)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    hosts = [torch.from_numpy(np.ascontiguousarray(t, dtype=np.float32)) for t in tracks]
    budgets = [Budget.of(h, spec.budget) for h in hosts]
    deltas = [torch.zeros_like(h) for h in hosts]
    surrogates = [build_model(k) for k in kinds]
    optimizers = [torch.optim.Adam(m.parameters(), lr=spec.lr) for m in surrogates]
    length = round(spec.crop_s * 44100)
    result = CloakResult([], [], [], [])
    for r in progress(range(spec.rounds), desc=label, unit="round"):
        losses = []
        for _ in range(spec.train_steps):  # (a) the surrogates learn from the cloaked music
            mel = log_mel(_crops(hosts, deltas, length, spec.batch, rng))
            for model, opt in zip(surrogates, optimizers, strict=True):
                loss = model.loss(mel)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
        result.surrogate_loss.append(float(np.mean(losses)))
        for i, (host, budget) in enumerate(zip(hosts, budgets, strict=True)):  # (b) PGD on each track's noise
            scale = float(host.pow(2).mean().sqrt()) * 10 ** (-spec.budget.min_snr_db / 20)
            for k in range(spec.pgd_steps):
                delta = deltas[i].clone().requires_grad_(True)
                held_out = (r * spec.pgd_steps + k) % len(surrogates) if blackbox else None
                loss = _cloak_loss(surrogates, host, delta, held_out, spec.inner_lr, draw=r * spec.pgd_steps + k)
                (grad,) = torch.autograd.grad(loss, delta)
                step = grad / (grad.pow(2).mean().sqrt() + 1e-12) * spec.step * scale
                deltas[i] = project(delta.detach() - step, budget)
        with torch.no_grad():
            result.cloaked_loss.append(float(np.mean([_cloak_loss(surrogates, h, d, None, 0.0)
                                                      for h, d in zip(hosts, deltas, strict=True)])))
            result.clean_loss.append(float(np.mean([_cloak_loss(surrogates, h, torch.zeros_like(h), None, 0.0)
                                                    for h in hosts])))
        if log is not None:
            log({"surrogate_loss": result.surrogate_loss[-1], "cloaked_loss": result.cloaked_loss[-1],
                 "clean_loss": result.clean_loss[-1]}, r)
    result.deltas = [d.numpy() for d in deltas]
    return result


class _LossOf(torch.nn.Module):
    """A model's training loss as its forward, so that :func:`functional_call` can run it on other weights."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.model.loss(mel)


def _cloak_loss(surrogates: list[torch.nn.Module], host: torch.Tensor, delta: torch.Tensor, held_out: int | None,
                inner_lr: float, draw: int = 0) -> torch.Tensor:
    """The surrogates' loss on one cloaked track. Black-box (``held_out`` given): every surrogate but that one
    after one simulated SGD step on the cloaked track (meta-train), that one as it is (meta-test)."""
    mel = log_mel((host + delta)[None])
    total = mel.new_zeros(())
    generator_state = torch.random.get_rng_state()  # the surrogates' training keeps its own stream
    for q, model in enumerate(surrogates):
        torch.manual_seed(draw)  # the diffusion loss draws noise: one draw per PGD step, the same inside it
        if held_out is None or q == held_out:
            total = total + model.loss(mel)
            continue
        wrapped = _LossOf(model)
        params = dict(wrapped.named_parameters())
        grads = torch.autograd.grad(functional_call(wrapped, params, (mel,)), list(params.values()),
                                    create_graph=True)
        updated = {k: p - inner_lr * g for (k, p), g in zip(params.items(), grads, strict=True)}
        torch.manual_seed(draw)
        total = total + functional_call(wrapped, updated, (mel,))
    torch.random.set_rng_state(generator_state)
    return total / len(surrogates)
