"""Dropout with cheaper masks on CPU (``model.dropout_masks=fast``; off by default).

torch draws a CPU dropout mask one Bernoulli number at a time from its Mersenne Twister, and the bimodal
model's inputs are wide (the clip functionals and every audio token), so on CPU the masks are a sizable share
of a training step. :class:`Dropout` draws the mask as 16-bit random numbers from numpy's PCG64 (two bytes per
element), seeded per call from torch's generator: a run stays reproducible from its seed
(``torch.manual_seed``), checkpoints resume as before, and the mask keeps an element with probability
``1 - p`` up to 1/65536. Gradients flow through the product with the mask, as through torch's dropout. Other
devices (``--device cuda``) and ``model.dropout_masks=torch`` use torch's dropout. Cost and accuracy:
docs/experiments/2026-12-06-cheaper-training-steps.md.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: ``model.dropout_masks`` values
MASKS = ("torch", "fast")
_LEVELS = 1 << 16


def fast_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """A boolean keep-mask of ``shape``: True with probability 1 - ``p`` (to 1/65536), from one seed drawn from
    torch's default generator."""
    seed = int(torch.randint(0, 2**62, (1,), dtype=torch.int64))
    n = int(np.prod(shape, dtype=np.int64))
    bits = np.frombuffer(np.random.Generator(np.random.PCG64(seed)).bytes(2 * n), dtype="<u2")
    return torch.from_numpy(bits >= np.uint16(round(p * _LEVELS))).view(shape)


class Dropout(nn.Module):
    """:class:`torch.nn.Dropout` with masks from :func:`fast_mask` on CPU, torch's own elsewhere."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu" or not x.is_floating_point():
            return F.dropout(x, self.p, True)
        scale = torch.where(fast_mask(x.shape, self.p), 1.0 / (1.0 - self.p), 0.0).to(x.dtype)
        return x * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"


def dropout(p: float, masks: str) -> nn.Module:
    """The dropout layer ``model.dropout_masks`` names: ``fast`` (:class:`Dropout`) or ``torch``
    (:class:`torch.nn.Dropout`, the masks of runs before it existed)."""
    if masks not in MASKS:
        raise ValueError(f"unknown dropout_masks {masks!r}; known: {', '.join(MASKS)}")
    return Dropout(p) if masks == "fast" else nn.Dropout(p)
