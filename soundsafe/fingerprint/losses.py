"""Contrastive objectives over a batch of embeddings (unit vectors): NT-Xent, supervised contrastive, triplet.

Each takes ``(N, d)`` embeddings and integer ``labels`` (the track of each row; two views of a window share a
label) so the three are interchangeable in training (``params.yaml: fingerprint_train.loss``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "nt_xent", "supervised_contrastive", "triplet_hard"]


def nt_xent(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent: rows ``2i`` and ``2i + 1`` are the two views of one window; all others are negatives."""
    n = z.shape[0]
    if n % 2:
        raise ValueError("NT-Xent needs pairs of views: an even number of rows")
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.arange(n, device=z.device) ^ 1  # 0↔1, 2↔3, …
    return F.cross_entropy(sim, partner)


def supervised_contrastive(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Khosla et al.'s SupCon: every other row of the same track is a positive."""
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None]) & ~eye
    counts = positive.sum(1).clamp_min(1)
    return -(log_prob.masked_fill(~positive, 0).sum(1) / counts).mean()


def triplet_hard(z: torch.Tensor, labels: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch-hard triplet: each anchor's farthest positive against its closest (highest-cosine) negative."""
    sim = z @ z.T
    same = labels[:, None] == labels[None]
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    hardest_positive = sim.masked_fill(~same | eye, float("inf")).amin(1)
    hardest_negative = sim.masked_fill(same, float("-inf")).amax(1)
    return F.relu(hardest_negative - hardest_positive + margin).mean()


LOSSES = {"ntxent": nt_xent, "supcon": supervised_contrastive, "triplet": triplet_hard}
