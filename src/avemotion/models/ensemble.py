"""Several models of one kind trained with different seeds, their probabilities averaged (``train.ensemble``).

Small emotion corpora make a network's result depend on its random start and on the epoch early stopping
picks; averaging a few members is the field's cheapest remedy (it removes variance, not bias). Every member
sees the same inputs (one standardiser); each head's probabilities, the final decision and the fusion weights
are the members' means, so contributions and per-head outputs keep their meaning. With a per-clip decision
rule (``model.decision_rule`` other than linear) the rule decides on the members' mean head probabilities.
"""

from __future__ import annotations

import torch
from torch import nn

from avemotion.data.batch import Batch
from avemotion.models.base import EmotionModel, ModelOutput
from avemotion.models.readout import ReadoutMixin


class Ensemble(EmotionModel):
    def __init__(self, members: list[EmotionModel]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0]
        super().__init__(first.dims, first.n_classes, first.config)
        self.members = nn.ModuleList(members)

    @property
    def shares_video_rows(self) -> bool:  # type: ignore[override]
        return all(m.shares_video_rows for m in self.members)

    def set_chosen_weights(self, weights: tuple[float, float, float] | None) -> None:
        super().set_chosen_weights(weights)
        for m in self.members:
            m.set_chosen_weights(weights)

    def set_head_temperatures(self, temperatures: dict[str, float] | None) -> None:
        # the members' logits come back calibrated: the ensemble's own decide must not scale them again
        for m in self.members:
            m.set_head_temperatures(temperatures)

    def readout_c(self) -> dict[str, float]:
        """The C of the first member's fitted read-outs ({} when the members have none)."""
        first = self.members[0]
        return first.readout_c() if isinstance(first, ReadoutMixin) else {}

    def forward(self, batch: Batch) -> ModelOutput:
        outs = [m(batch) for m in self.members]
        k = len(outs)
        logits = {}
        for head in outs[0].logits:
            mean_p = sum(torch.softmax(o.logits[head], -1) for o in outs) / k
            logits[head] = torch.log(mean_p.clamp_min(1e-12))
        if self.config.decision_rule != "linear":  # a per-clip rule judges the members' mean answer of each head
            return self.decide(logits, dict(outs[0].available), face_share=batch.face_share)
        probs = sum(o.probs for o in outs) / k
        weights = sum(o.weights for o in outs) / k
        return ModelOutput(logits, dict(outs[0].available), probs, weights, {})
