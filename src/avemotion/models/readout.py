"""Linear read-outs of the clip functionals, fitted before the network trains (``model.linear_readout``).

For each head a multinomial logistic regression on that head's clip functionals (audio: the clip vector; video:
mean and standard deviation of the face frames' x_t; fused: both), fitted to convergence by L-BFGS on the
training clips with an L2 penalty and balanced class weights: the objective of the ``logreg`` baseline
(scikit-learn's ``C``, from the same grid). Read-outs are never trained by gradient; the trainer keeps, on the
validation clips, the read-outs alone, the network alone or their average (``BimodalModel.readout_weight``), so
a network trained on a few dozen clips falls back to logistic regression on its own features instead of
collapsing below it. The video read-out is fitted with the expression CNN's log prior as a fixed offset: with
two clips per class the L2 penalty keeps it close to the CNN's zero-shot answer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from avemotion.data.batch import Batch
from avemotion.models.accuracy import unweighted_accuracy
from avemotion.models.base import ModelOutput
from avemotion.models.classical import CLASSICAL

#: regularisation strengths tried on the validation clips (the logreg baseline's grid)
C_GRID: tuple[float, ...] = CLASSICAL.get("logreg").grid
#: strength used without validation clips of their own (the logreg baseline's choice then)
C_DEFAULT = CLASSICAL.get("logreg").default_c


class ReadoutMixin(ABC):
    """What a model with linear read-outs offers training (the bimodal model's ``model.linear_readout``).

    Training asks ``isinstance(model, ReadoutMixin)``: such a model has its read-outs fitted (:meth:`prefit`)
    before gradient training, and the weight of their probabilities chosen on the validation clips among
    :meth:`readout_weights`. A model without the mixin has no read-outs.
    """

    @abstractmethod
    def prefit(self, train: Iterable[Batch], val: Iterable[Batch] | None, n_classes: int,
               c: dict[str, float] | None = None) -> dict[str, float]:
        """Fit the linear read-outs before gradient training, with regularisation ``c`` per head or chosen on
        ``val``. Returns the regularisation used per head."""

    @abstractmethod
    def readout_weights(self) -> tuple[float, ...]:
        """Weights of the read-outs' probabilities tried on the validation clips (empty: it has none)."""

    @abstractmethod
    def set_readout_weight(self, weight: float) -> None:
        """Weight of the read-outs' probabilities in eval mode (0: the network alone; 1: read-outs alone)."""

    @abstractmethod
    def readout_c(self) -> dict[str, float]:
        """The L2 strength C each fitted read-out used."""

    def forward_mixes(self, batch: Batch, weights: Sequence[float]) -> list[ModelOutput]:
        """The outputs with each read-out weight in turn (the weight is left at the last); a model may compute
        its network once for all of them."""
        outs = []
        for w in weights:
            self.set_readout_weight(w)
            outs.append(self(batch))  # type: ignore[operator]
        return outs


@runtime_checkable
class HasReadoutC(Protocol):
    """A trained model that reports its read-outs' C: a :class:`ReadoutMixin` model or an ensemble of them."""

    def readout_c(self) -> dict[str, float]: ...


def fitted_c(model: nn.Module) -> dict[str, float]:
    """The C each fitted read-out of ``model`` used ({} for a model without read-outs)."""
    return model.readout_c() if isinstance(model, HasReadoutC) else {}


class LinearReadout(nn.Module):
    """``logits = W ((x - mean) / scale) + b``: the standardisation is part of the module (buffers), so a
    checkpoint holds the whole read-out."""

    def __init__(self, in_dim: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, n_classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        # float64: raw functionals can be large next to their spread (e.g. pixel coordinates)
        self.register_buffer("mean", torch.zeros(in_dim, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(in_dim, dtype=torch.float64))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("c", torch.zeros((), dtype=torch.float64))  # the L2 strength C it was fitted with

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(((x.double() - self.mean) / self.scale).to(self.linear.weight.dtype))

    @torch.no_grad()
    def set_fit(self, mean: torch.Tensor, scale: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                c: float) -> None:
        self.mean.copy_(mean)
        self.scale.copy_(scale)
        self.linear.weight.copy_(weight)
        self.linear.bias.copy_(bias)
        self.fitted.fill_(True)
        self.c.fill_(c)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, n_classes: int, c: float, sample_weight: torch.Tensor,
                 offset: torch.Tensor | None = None, max_iter: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression on standardised ``x``: minimises
    ``sum_i w_i CE_i + ||W||^2 / (2 C)`` (scikit-learn's objective; intercept not penalised), divided by the
    clip count for conditioning. ``offset`` (N, K) is added to the logits and not learned. Deterministic.

    With fewer clips than columns (12k-dim openSMILE functionals, a few hundred clips) it is solved in the clips'
    span: ``x = U S V^T`` (thin SVD), ``W = V B``, so ``x W = (U S) B`` and ``||W|| = ||B||``. The minimiser lies in
    that span (the loss sees ``x W`` only, the penalty grows outside it), L-BFGS from zero never leaves it and is
    invariant to the rotation, so the iterates are the full problem's, each step costing N^2 K instead of N D K."""
    return _fit_in_span(*clip_span(x.double()), y, n_classes, c, sample_weight, offset, max_iter)


def clip_span(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(U S, V^T)`` of the thin SVD when ``x`` has fewer rows than columns (the clips' coordinates in their own
    span, and the span's orthonormal basis as rows), else ``(x, None)``; see :func:`fit_logistic`."""
    if x.shape[0] >= x.shape[1]:
        return x, None
    u, sv, basis = torch.linalg.svd(x, full_matrices=False)
    return u * sv, basis


def _fit_in_span(x: torch.Tensor, basis: torch.Tensor | None, y: torch.Tensor, n_classes: int, c: float,
                 sample_weight: torch.Tensor, offset: torch.Tensor | None, max_iter: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`fit_logistic` on coordinates from :func:`clip_span`; the weights come back in the columns of ``x``."""
    n = x.shape[0]
    w = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    sw = sample_weight.double()
    off = offset.double() if offset is not None else None
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, tolerance_grad=1e-7,
                            tolerance_change=1e-10, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        z = x @ w + b
        if off is not None:
            z = z + off
        ce = torch.nn.functional.cross_entropy(z, y, reduction="none")
        loss = ((sw * ce).sum() + (w * w).sum() / (2.0 * c)) / n
        loss.backward()
        return loss

    opt.step(closure)
    weight = basis.T @ w.detach() if basis is not None else w.detach()
    return weight.T.float(), b.detach().float()


def standardise_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x.mean(0)
    scale = x.std(0, unbiased=False)
    return mean, torch.where(scale > 1e-6, scale, torch.ones_like(scale))


def balanced_class_weights(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """n / (K n_c) per class (scikit-learn's class_weight="balanced"); absent classes 0."""
    counts = torch.bincount(y, minlength=n_classes).double()
    present = counts > 0
    w = torch.zeros(n_classes, dtype=torch.float64)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def fit_readout(readout: LinearReadout, x: torch.Tensor, y: torch.Tensor, n_classes: int,
                class_weights: torch.Tensor, offset: torch.Tensor | None = None,
                x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
                offset_val: torch.Tensor | None = None, c: float | None = None) -> float:
    """Fit ``readout`` on (x, y) with C from :data:`C_GRID`, chosen by balanced accuracy on the validation clips
    when they are given (ties: the smaller C, the stronger penalty), else :data:`C_DEFAULT`; a given ``c`` is
    used as it is. Returns the C."""
    x = x.double()
    mean, scale = standardise_stats(x)
    xs = (x - mean) / scale
    sw = class_weights[y]
    coords, basis = clip_span(xs)  # once for every C tried

    def fit_c(c_fit: float) -> tuple[torch.Tensor, torch.Tensor]:
        return _fit_in_span(coords, basis, y, n_classes, c_fit, sw, offset, 300)

    fits: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}  # the grid's fits, the chosen one kept
    if c is None and x_val is not None and y_val is not None and len(y_val):
        xv = (x_val.double() - mean) / scale
        scores = []
        for c_try in C_GRID:
            w, b = fits[c_try] = fit_c(c_try)
            z = xv.float() @ w.T + b + (offset_val if offset_val is not None else 0.0)
            scores.append(unweighted_accuracy(y_val.numpy(), z.argmax(1).numpy()))
        c = C_GRID[int(np.argmax(scores))]  # ties: the smaller C (the stronger penalty)
    c = C_DEFAULT if c is None else c
    w, b = fits[c] if c in fits else fit_c(c)
    readout.set_fit(mean, scale, w, b, c)
    return c
