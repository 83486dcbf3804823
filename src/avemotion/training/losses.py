"""Training losses: the paper's L1 classification loss (eq. 20) or cross-entropy, plus L_REC (eqs. 18, 21).

Both kinds share the structure of eq. 20: a term on the fused decision y^_m (eq. 19) and, for each unimodal
head S whose modality the clip has (M_S^i = ``unimodal_weight`` where present, 0 where absent), a term on y_S:

- ``l1``: sum_c |y^_c - onehot_c|, which for probabilities equals 2 (1 - p_true);
- ``ce``: -log y^_true for the fused decision, cross-entropy of the head's logits for each unimodal head.

Total: L = L_c + rec_weight * L_REC (eq. 21 with rec_weight = 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from avemotion.config import ModelConfig
from avemotion.models.base import ModelOutput


def classification_loss(out: ModelOutput, labels: torch.Tensor, kind: str, unimodal_weight: float) -> torch.Tensor:
    n_classes = out.probs.shape[1]
    if kind == "l1":
        onehot = F.one_hot(labels, n_classes).to(out.probs.dtype)
        loss = (out.probs - onehot).abs().sum(1).mean()
    elif kind == "ce":
        loss = F.nll_loss(torch.log(out.probs.clamp_min(1e-8)), labels)
    else:
        raise ValueError(f"unknown loss {kind!r} (ce or l1)")
    if unimodal_weight > 0:
        for head in ("audio", "video"):
            if head not in out.logits:
                continue
            m = out.available[head].to(out.probs.dtype)
            if kind == "l1":
                p = torch.softmax(out.logits[head], -1)
                per = (p - F.one_hot(labels, n_classes).to(p.dtype)).abs().sum(1)
            else:
                per = F.cross_entropy(out.logits[head], labels, reduction="none")
            loss = loss + unimodal_weight * (per * m).sum() / labels.shape[0]
    return loss


def total_loss(out: ModelOutput, labels: torch.Tensor, config: ModelConfig) -> tuple[torch.Tensor, dict[str, float]]:
    lc = classification_loss(out, labels, config.loss, config.unimodal_weight)
    parts = {"cls": float(lc.detach())}
    loss = lc
    if config.reconstruction and "rec" in out.aux_losses and config.rec_weight > 0:
        loss = loss + config.rec_weight * out.aux_losses["rec"]
        parts["rec"] = float(out.aux_losses["rec"].detach())
    return loss, parts
