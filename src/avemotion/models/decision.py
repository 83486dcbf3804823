"""Decision-level fusion rules (``model.decision_rule``): how much each head's probabilities count, per clip.

Eq. 19 gives the fused, audio and video heads fixed weights (1, beta, chi). A rule turns those base weights
(already zero for a head whose input the clip lacks) into the clip's weights, from the heads' own answers:

- ``linear`` (the paper's): the base weights as they are.
- ``reliability``: each base weight times its head's confidence in this clip, 1 - H(p) / log C (1 for a
  one-hot answer, 0 for a uniform one): an unsure head counts less, and a head that knows nothing (a face the
  expression CNN cannot read, a silent voice) drops out instead of being averaged in.
- ``max_confidence``: only the head with the highest top probability among those with a base weight.

The confidences are taken without gradient: in training the rule decides how heads combine, the heads learn
from their own losses and from the combined one through their probabilities. When a rule leaves every
weight at zero (all heads uniform), the available heads are averaged, as eq. 19 does without weights.
Measurements: docs/experiments/2026-12-06-decision-rules.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

#: (B, H, C) head probabilities and (B, H) base weights -> (B, H) weights before normalisation
DecisionRule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def linear(probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 19: the base weights."""
    return weights


def reliability(probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Base weights times each head's confidence, 1 - normalised entropy."""
    p = probs.detach().clamp_min(1e-12)
    confidence = 1.0 - (-(p * p.log()).sum(-1)) / math.log(probs.shape[-1])
    return weights * confidence.clamp(0.0, 1.0)


def max_confidence(probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """All weight on the weighted head with the highest top probability (the first of ties)."""
    top = probs.detach().amax(-1).masked_fill(weights <= 0, -1.0)
    pick = torch.nn.functional.one_hot(top.argmax(-1), weights.shape[-1]).to(weights.dtype)
    return pick * (weights > 0).to(weights.dtype)


DECISION_RULES: dict[str, DecisionRule] = {"linear": linear, "reliability": reliability,
                                           "max_confidence": max_confidence}


def mix_heads(head_probs: dict[str, torch.Tensor], weights: torch.Tensor, available: torch.Tensor,
              order: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 19's last step: the clips' weights (B, H) over the heads in ``order`` renormalised, where they are all
    0 the ``available`` heads (B, H) equally, and the weighted sum of ``head_probs`` (``head -> (B, C)``; a head
    missing from it adds nothing). Returns (weights, probabilities)."""
    empty = weights.sum(1, keepdim=True) <= 0
    w = torch.where(empty, available, weights)
    w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
    ref = next(iter(head_probs.values()))
    probs = torch.zeros_like(ref)
    for j, h in enumerate(order):
        if h in head_probs:
            probs = probs + w[:, j:j + 1] * head_probs[h]
    return w, probs
