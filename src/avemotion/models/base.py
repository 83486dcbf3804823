"""The interface every emotion model implements, and the decision-level fusion they share (eq. 19).

A model maps a :class:`~avemotion.data.batch.Batch` to a :class:`ModelOutput`: logits of up to three heads
("fused", "audio", "video"), which heads are available per clip, the final class probabilities after
decision-level fusion, the effective fusion weights, and auxiliary losses (e.g. L_REC). A baseline is one
file: subclass :class:`EmotionModel`, implement ``forward`` (call :meth:`EmotionModel.decide` at the end)
and register it with ``@MODELS.register("name")`` (:mod:`avemotion.models.registry`). A model with linear
read-outs also implements :class:`~avemotion.models.readout.ReadoutMixin`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
from torch import nn

from avemotion.config import ModelConfig
from avemotion.data.batch import Batch
from avemotion.data.dims import FeatureDims
from avemotion.models.decision import DECISION_RULES, mix_heads

HEADS = ("fused", "audio", "video")


@dataclass
class ModelOutput:
    logits: dict[str, torch.Tensor]  # head -> (B, C), only the heads the model has
    available: dict[str, torch.Tensor]  # head -> (B,) bool: the head's inputs exist for the clip
    probs: torch.Tensor  # (B, C) final decision (eq. 19), rows sum to 1
    weights: torch.Tensor  # (B, 3) normalised weight of the fused / audio / video head in ``probs``
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)

    def head_probs(self) -> dict[str, torch.Tensor]:
        return {h: torch.softmax(z, dim=-1) for h, z in self.logits.items()}

    def contributions(self) -> torch.Tensor:
        """(B, 3) share of each head (fused, audio, video) in the final probability of the predicted class.

        ``c_h = w_h p_h[k] / sum_h' w_h' p_h'[k]`` with ``k = argmax probs``; rows sum to 1, unavailable heads 0.
        """
        k = self.probs.argmax(-1)
        parts = []
        hp = self.head_probs()
        for j, h in enumerate(HEADS):
            if h in hp:
                parts.append(self.weights[:, j] * hp[h].gather(1, k[:, None])[:, 0])
            else:
                parts.append(torch.zeros_like(self.weights[:, j]))
        stacked = torch.stack(parts, dim=1)
        return stacked / stacked.sum(1, keepdim=True).clamp_min(1e-12)


class EmotionModel(nn.Module, ABC):
    """Base class: holds dims, class count and config; provides decision-level fusion."""

    #: whether :meth:`forward` takes batches whose clips share video rows (``Batch.video_rows``); prediction
    #: collates the audio speed views of a clip with one video row only for such models
    shares_video_rows: bool = False

    def __init__(self, dims: FeatureDims, n_classes: int, config: ModelConfig) -> None:
        super().__init__()
        self.dims = dims
        self.n_classes = n_classes
        self.config = config

    @abstractmethod
    def forward(self, batch: Batch) -> ModelOutput:  # pragma: no cover - abstract
        ...

    #: eq. 19's weights chosen on validation speakers (``model.decision_weights = chosen``), used in eval mode in
    #: place of the configured ones; None: the configured ones (:meth:`set_chosen_weights`)
    chosen_weights: tuple[float, float, float] | None = None

    def set_chosen_weights(self, weights: tuple[float, float, float] | None) -> None:
        """Eq. 19's weights (fused, audio, video) for prediction (eval mode); training keeps the configured ones."""
        self.chosen_weights = None if weights is None else tuple(float(w) for w in weights)  # type: ignore[assignment]

    #: each head's temperature, fitted on validation speakers (``model.head_calibration = validation``): in eval
    #: mode a head's logits are divided by it before eq. 19; None: as trained (:meth:`set_head_temperatures`)
    head_temperatures: dict[str, float] | None = None

    def set_head_temperatures(self, temperatures: dict[str, float] | None) -> None:
        """Per-head temperatures for prediction (eval mode); training is unaffected."""
        self.head_temperatures = None if temperatures is None else {h: float(t) for h, t in temperatures.items()}

    def fusion_weights(self) -> torch.Tensor:
        """Base weights (fused, audio, video) of eq. 19: (fused_weight = 1, beta, chi), or in eval mode the chosen
        ones (:attr:`chosen_weights`) where set; (1, 0, 0) without decision fusion."""
        c = self.config
        if c.decision_fusion:
            if self.chosen_weights is not None and not self.training:
                return torch.tensor(self.chosen_weights)
            return torch.tensor([c.fused_weight, c.beta, c.chi])
        return torch.tensor([1.0, 0.0, 0.0])

    def decide(self, logits: dict[str, torch.Tensor], available: dict[str, torch.Tensor],
               aux_losses: dict[str, torch.Tensor] | None = None,
               face_share: torch.Tensor | None = None) -> ModelOutput:
        """Eq. 19 on probabilities: y = (y_m + beta y_a + chi y_v) / (1 + beta + chi), over available heads,
        with the weights adjusted per clip by ``model.decision_rule`` (:mod:`avemotion.models.decision`).

        A head whose modality is missing for a clip (the fused head needs both) gets weight 0 and the others
        are renormalised; when all remaining base weights are 0 (e.g. an audio-only clip without decision
        fusion) the available heads are averaged with equal weight. In eval mode the heads are first calibrated
        (:attr:`head_temperatures`) and, with ``model.face_share_weighting``, the fused and video weights are
        multiplied by ``face_share`` (the share of the clip's frames with a face, ``Batch.face_share``).
        """
        if self.head_temperatures and not self.training:  # heads calibrated on validation speakers
            logits = {h: z / self.head_temperatures.get(h, 1.0) for h, z in logits.items()}
        ref = next(iter(logits.values()))
        b = ref.shape[0]
        mask = torch.stack([available.get(h, torch.zeros(b, dtype=torch.bool, device=ref.device)) for h in HEADS],
                           dim=1).to(ref.dtype)
        w = self.fusion_weights().to(ref)[None, :] * mask
        if face_share is not None and self.config.face_share_weighting and not self.training:
            # a face seen in few of the clip's frames weighs little: the heads that use it, by that share
            share = face_share.to(ref).clamp(0.0, 1.0)
            w = w * torch.stack([share, torch.ones_like(share), share], dim=1)
        head_probs = {h: torch.softmax(z, dim=-1) for h, z in logits.items()}
        rule = self.config.decision_rule
        if rule != "linear":  # (eq. 19 itself needs no stacked probabilities)
            stacked = torch.stack([head_probs.get(h, torch.zeros_like(ref)) for h in HEADS], dim=1)
            w = DECISION_RULES[rule](stacked, w)
        w, probs = mix_heads(head_probs, w, mask, HEADS)
        return ModelOutput(logits, available, probs, w, aux_losses or {})

