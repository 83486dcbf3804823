"""Training losses: the paper's L1 classification loss (eq. 20) or cross-entropy, plus L_REC (eqs. 18, 21).

Both kinds share the structure of eq. 20: a term on the fused decision y^_m (eq. 19) and, for each unimodal
head S whose modality the clip has (M_S^i = ``unimodal_weight`` where present, 0 where absent), a term on y_S:

- ``l1``: sum_c |y^_c - onehot_c|, which for probabilities equals 2 (1 - p_true);
- ``ce``: -log y^_true for the fused decision, cross-entropy of the head's logits for each unimodal head.

Total: L = L_c + rec_weight * L_REC (eq. 21 with rec_weight = 1).

``class_weights`` (``train.class_weights = balanced``, ours): every clip's terms are weighted by
n / (C n_c) of its class in the training clips, as scikit-learn's ``class_weight="balanced"``, so rare classes
count as much as frequent ones (UA, the mean recall, is the figure that matters).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from avemotion.config import ModelConfig
from avemotion.models.base import ModelOutput
from avemotion.models.readout import balanced_class_weights


def classification_loss(out: ModelOutput, labels: torch.Tensor, kind: str, unimodal_weight: float,
                        class_weights: torch.Tensor | None = None, smoothing: float = 0.0) -> torch.Tensor:
    n_classes = out.probs.shape[1]
    w = (class_weights.to(out.probs.dtype)[labels] if class_weights is not None
         else torch.ones(labels.shape[0], dtype=out.probs.dtype, device=labels.device))
    if kind == "l1":
        onehot = F.one_hot(labels, n_classes).to(out.probs.dtype)
        loss = ((out.probs - onehot).abs().sum(1) * w).mean()
    elif kind == "ce":
        logp = torch.log(out.probs.clamp_min(1e-8))
        per = F.nll_loss(logp, labels, reduction="none")
        if smoothing > 0:
            per = (1 - smoothing) * per - smoothing * logp.mean(1)
        loss = (per * w).mean()
    else:
        raise ValueError(f"unknown loss {kind!r} (ce or l1)")
    if unimodal_weight > 0:
        for head in ("audio", "video"):
            if head not in out.logits:
                continue
            m = out.available[head].to(out.probs.dtype) * w
            if kind == "l1":
                p = torch.softmax(out.logits[head], -1)
                per = (p - F.one_hot(labels, n_classes).to(p.dtype)).abs().sum(1)
            else:
                per = F.cross_entropy(out.logits[head], labels, reduction="none", label_smoothing=smoothing)
            loss = loss + unimodal_weight * (per * m).sum() / labels.shape[0]
    return loss


def balanced_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """n / (C n_c) per class of ``labels`` (classes without clips get 0), float32 for the losses."""
    return balanced_class_weights(torch.as_tensor(np.asarray(labels, np.int64)), n_classes).float()


def total_loss(out: ModelOutput, labels: torch.Tensor, config: ModelConfig,
               class_weights: torch.Tensor | None = None,
               smoothing: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    lc = classification_loss(out, labels, config.loss, config.unimodal_weight, class_weights, smoothing)
    parts = {"cls": float(lc.detach())}
    loss = lc
    if config.reconstruction and "rec" in out.aux_losses and config.rec_weight > 0:
        loss = loss + config.rec_weight * out.aux_losses["rec"]
        parts["rec"] = float(out.aux_losses["rec"].detach())
    return loss, parts
