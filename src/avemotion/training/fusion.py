"""Decision fusion fitted on validation speakers (issue 27): how the fused, audio and video heads meet at
prediction, learned from their answers on clips of speakers the runs did not train on (a fold's inner runs'
validation clips pooled, or the fold's own validation clips). Training is the same either way; only the model's
eval-mode decision changes (:meth:`~avemotion.models.base.EmotionModel.decide`).

- ``model.head_calibration = validation``: each head's temperature, fitted by NLL on those answers
  (:func:`~avemotion.models.calibration.fit_temperature`). Heads of one network differ in how sure they are (a
  face head on few speakers can be sure and often wrong), and averaging their probabilities (eq. 19) lets the
  surest outvote the others. Calibrated first, each head weighs in with the confidence it has earned
  (measured: docs/experiments/2026-12-06-calibrated-heads.md).
- ``model.decision_weights = chosen``: eq. 19's audio and video weights from a small grid, on the (calibrated)
  answers, kept only where they beat the configured ones cross-fitted (:func:`choose_decision_weights`).

The choice of each fold is saved with its model (``info``: ``head_temperatures``, ``decision_weights``); the
final model takes the folds' medians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avemotion.config import Config
from avemotion.data.standardize import Standardizer
from avemotion.models.accuracy import unweighted_accuracies
from avemotion.models.base import HEADS, EmotionModel
from avemotion.models.calibration import apply_temperature, fit_temperature
from avemotion.models.decision import mix_heads
from avemotion.models.predict import predict_clips
from avemotion.training.fit import TrainSetup
from avemotion.training.selection import crossfit_ua
from avemotion.utils.progress import log

#: the audio and video weights tried beside the configured ones (the fused head keeps its weight)
AUDIO_WEIGHTS = (0.0, 0.3, 0.6, 1.0)
VIDEO_WEIGHTS = (0.0, 0.2, 0.4, 0.8)

Weights = tuple[float, float, float]


@dataclass(frozen=True)
class FusionChoice:
    """What a fold chose: eq. 19's weights (None: the configured ones) and each head's temperature (None: none)."""

    weights: Weights | None = None
    temperatures: dict[str, float] | None = None

    def info(self) -> dict[str, object]:
        """The model bundle's ``info`` entries (also a fold result's ``fusion``)."""
        out: dict[str, object] = {}
        if self.weights is not None:
            out["decision_weights"] = list(self.weights)
        if self.temperatures is not None:
            out["head_temperatures"] = dict(self.temperatures)
        return out

    @classmethod
    def from_info(cls, info: dict | None) -> FusionChoice | None:
        if not info:
            return None
        w = info.get("decision_weights")
        t = info.get("head_temperatures")
        return cls(None if w is None else tuple(float(x) for x in w),  # type: ignore[arg-type]
                   None if t is None else {h: float(v) for h, v in t.items()})

    def apply(self, model: EmotionModel) -> None:
        model.set_chosen_weights(self.weights)
        model.set_head_temperatures(self.temperatures)


def fits_fusion(config: Config) -> bool:
    """Whether a fold fits anything here: an audio + video model with decision fusion by the linear rule and
    ``model.head_calibration`` or ``model.decision_weights`` asking for it."""
    m = config.model
    return ((m.head_calibration != "none" or m.decision_weights == "chosen") and m.decision_fusion
            and m.decision_rule == "linear" and config.train.modality == "av")


def configured_weights(config: Config) -> Weights:
    return (config.model.fused_weight, config.model.beta, config.model.chi)


def validation_heads(setup: TrainSetup, model: EmotionModel, std: Standardizer,
                     val: np.ndarray) -> dict[str, np.ndarray]:
    """Each head's probabilities on the clips ``val`` (NaN rows where a clip lacks the head) from a model as
    :func:`~avemotion.training.fit.fit` returns it (no head temperatures yet)."""
    preds = predict_clips(model, setup.clipset.subset(val), setup.dims, std, setup.config.train.batch_size)
    return preds.head_probs


def calibrate_heads(heads: dict[str, np.ndarray], temperatures: dict[str, float] | None) -> dict[str, np.ndarray]:
    """The heads' probabilities with their temperatures applied (NaN rows stay NaN)."""
    if not temperatures:
        return heads
    out = {}
    for h, p in heads.items():
        ok = ~np.isnan(p).any(1)
        q = p.copy()
        if ok.any():
            q[ok] = apply_temperature(p[ok], temperatures.get(h, 1.0))
        out[h] = q
    return out


def fit_head_temperatures(y: np.ndarray, heads: dict[str, np.ndarray]) -> dict[str, float]:
    """Each head's temperature by NLL on the clips that have it (1 where too few: ``fit_temperature``)."""
    out = {}
    for h, p in heads.items():
        ok = ~np.isnan(p).any(1)
        out[h] = fit_temperature(p[ok], np.asarray(y)[ok]) if ok.any() else 1.0
    return out


def decision_probs(heads: dict[str, np.ndarray], weights: Weights) -> np.ndarray:
    """Eq. 19 by the linear rule, as :meth:`~avemotion.models.base.EmotionModel.decide` computes it
    (:func:`~avemotion.models.decision.mix_heads`), on heads' probabilities ``head -> (N, C)`` (NaN rows: the clip
    lacks the head)."""
    n = len(next(iter(heads.values())))
    avail = torch.stack([torch.from_numpy(~np.isnan(heads[h]).any(1)) if h in heads
                         else torch.zeros(n, dtype=torch.bool) for h in HEADS], 1).to(torch.float64)
    probs = {h: torch.from_numpy(np.nan_to_num(p)) for h, p in heads.items()}
    _, mixed = mix_heads(probs, torch.tensor(weights, dtype=torch.float64)[None, :] * avail, avail, HEADS)
    return mixed.numpy()


@dataclass(frozen=True)
class WeightsChoice:
    """Eq. 19's weights chosen on validation answers: ``weights``; ``ua`` its pooled UA, ``chosen_ua`` /
    ``configured_ua`` the cross-fitted UA of choosing from the grid and of the configured ones."""

    weights: Weights
    ua: float
    chosen_ua: float
    configured_ua: float


def choose_decision_weights(y: np.ndarray, heads: dict[str, np.ndarray], configured: Weights,
                            seed: int = 0) -> WeightsChoice:
    """Eq. 19's weights for heads that answered ``heads`` on validation clips labelled ``y``: the grid of
    :data:`AUDIO_WEIGHTS` x :data:`VIDEO_WEIGHTS` (the fused head's weight as configured) plus the ``configured``
    ones; the best pooled UA (ties: the configured ones, then the earlier) replaces the configured weights only if
    its cross-fitted UA (:func:`~avemotion.training.selection.crossfit_ua`) beats theirs."""
    y = np.asarray(y, np.int64)
    fused = configured[0]
    grid = [configured] + [(fused, a, v) for a in AUDIO_WEIGHTS for v in VIDEO_WEIGHTS
                           if (fused, a, v) != tuple(configured)]
    correct = np.stack([decision_probs(heads, w).argmax(1) == y for w in grid])
    uas = unweighted_accuracies(correct, y)
    best = int(np.argmax(uas))
    cf = crossfit_ua(y, correct, correct[0], seed)
    if best == 0 or cf.chosen <= cf.reference + 1e-9:
        return WeightsChoice(tuple(configured), float(uas[0]), cf.chosen, cf.reference)  # type: ignore[arg-type]
    return WeightsChoice(grid[best], float(uas[best]), cf.chosen, cf.reference)


def choose_fusion(config: Config, y: np.ndarray, heads: dict[str, np.ndarray], seed: int,
                  stage: str) -> FusionChoice:
    """The fold's :class:`FusionChoice` from its heads' validation answers (logged)."""
    temps = fit_head_temperatures(y, heads) if config.model.head_calibration == "validation" else None
    weights = None
    if config.model.decision_weights == "chosen":
        wc = choose_decision_weights(y, calibrate_heads(heads, temps), configured_weights(config), seed)
        weights = wc.weights
        log(f"{stage}: decision weights (fused, audio, video) {wc.weights} (validation UA {wc.ua:.3f}; "
            f"cross-fitted: chosen {wc.chosen_ua:.3f} vs configured {wc.configured_ua:.3f})")
    if temps is not None:
        before = unweighted_accuracies((decision_probs(heads, configured_weights(config)).argmax(1) == y)[None], y)
        after = unweighted_accuracies(
            (decision_probs(calibrate_heads(heads, temps), weights or configured_weights(config)).argmax(1) == y)[None],
            y)
        log(f"{stage}: head temperatures {temps} (validation UA {float(before[0]):.3f} -> {float(after[0]):.3f})")
    return FusionChoice(weights, temps)


def median_fusion(config: Config, choices: list[FusionChoice | None]) -> FusionChoice | None:
    """The final model's: each weight's and each temperature's median over the folds (a fold without a choice
    counts with the configured weights and temperature 1); None when no fold chose anything."""
    made = [c for c in choices if c is not None]
    if not made:
        return None
    weights = temps = None
    if any(c.weights is not None for c in made):
        rows = np.asarray([(c and c.weights) or configured_weights(config) for c in choices], np.float64)
        weights = tuple(float(x) for x in np.median(rows, axis=0))
    if any(c.temperatures is not None for c in made):
        heads = sorted({h for c in made for h in (c.temperatures or {})})
        temps = {h: float(np.median([((c and c.temperatures) or {}).get(h, 1.0) for c in choices])) for h in heads}
    return FusionChoice(weights, temps)  # type: ignore[arg-type]
