"""Calibrated confidence: temperature scaling of a model's final probabilities, and how calibrated they are.

A model's probabilities after decision-level fusion are often over- or under-confident on speakers it never
heard. Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks") rescales them as
``p_T = softmax(log p / T)``: one number, fitted by minimising the negative log-likelihood of held-out answers,
that leaves every argmax (hence WA, UA and the confusion matrix) unchanged. ``avemotion train`` fits it on
the folds' held-out predictions of speakers each fold model never saw and stores it with the final model
(``info["temperature"]``); prediction applies it. Quality figures: the expected calibration error (ECE: the
clip-weighted gap between confidence and accuracy over equal-width confidence bins) and the NLL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: fewer held-out answers than this: no temperature is fitted (T = 1)
MIN_CLIPS = 20
#: the range searched for T (log-uniformly)
T_RANGE = (0.05, 20.0)
BINS = 10


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` per row (rows of ``probs`` sum to 1); T = 1 returns ``probs`` itself."""
    p = np.asarray(probs, np.float64)
    if temperature == 1.0:
        return p
    logp = np.log(np.clip(p, 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=-1, keepdims=True)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = np.asarray(probs, np.float64)[np.arange(len(y)), np.asarray(y)]
    return float(-np.mean(np.log(np.clip(p, 1e-12, 1.0))))


def fit_temperature(probs: np.ndarray, y: np.ndarray, min_clips: int = MIN_CLIPS) -> float:
    """The T in :data:`T_RANGE` minimising the NLL of ``apply_temperature(probs, T)``; 1.0 with fewer than
    ``min_clips`` answers."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(y)
    if len(y) < min_clips:
        return 1.0
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    res = minimize_scalar(lambda t: nll(apply_temperature(probs, float(np.exp(t))), y), bounds=(lo, hi),
                          method="bounded", options={"xatol": 1e-4})
    return round(float(np.exp(res.x)), 4)


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width confidence bins: each bin's upper edge, clip count, mean confidence and accuracy."""

    edges: list[float]
    counts: list[int]
    confidence: list[float | None]
    accuracy: list[float | None]

    def to_dict(self) -> dict:
        return {"edges": self.edges, "counts": self.counts, "confidence": self.confidence,
                "accuracy": self.accuracy}


def reliability_bins(probs: np.ndarray, y: np.ndarray, bins: int = BINS) -> ReliabilityBins:
    """Top-label confidence vs accuracy in ``bins`` equal-width bins over (0, 1]."""
    p = np.asarray(probs, np.float64)
    conf = p.max(1)
    right = p.argmax(1) == np.asarray(y)
    which = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    counts, mean_conf, acc = [], [], []
    for b in range(bins):
        sel = which == b
        counts.append(int(sel.sum()))
        mean_conf.append(round(float(conf[sel].mean()), 4) if sel.any() else None)
        acc.append(round(float(right[sel].mean()), 4) if sel.any() else None)
    return ReliabilityBins([round((b + 1) / bins, 4) for b in range(bins)], counts, mean_conf, acc)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """ECE: sum over bins of (clips in bin / clips) x |accuracy - mean confidence|."""
    r = reliability_bins(probs, y, bins)
    n = max(sum(r.counts), 1)
    return float(sum(c / n * abs(a - m) for c, m, a in zip(r.counts, r.confidence, r.accuracy, strict=True)
                     if c))


def crossfit_calibrate(probs: np.ndarray, y: np.ndarray, groups: Sequence[object]) -> tuple[np.ndarray, list[float]]:
    """Each group's (fold's) probabilities scaled by the T fitted on the other groups' answers, so that no
    answer judges the temperature applied to it; returns the calibrated probabilities and each group's T."""
    groups = np.asarray(groups)
    probs = np.asarray(probs, np.float64)
    y = np.asarray(y)
    out = probs.copy()
    temps = []
    for g in dict.fromkeys(groups.tolist()):
        sel = groups == g
        t = fit_temperature(probs[~sel], y[~sel])
        temps.append(t)
        out[sel] = apply_temperature(probs[sel], t)
    return out, temps


@dataclass(frozen=True)
class CalibrationReport:
    """How calibrated held-out answers are: before, and after temperature scaling cross-fitted over folds; the
    temperature fitted on all of them (the final model's). ``calibrated``: the cross-fitted probabilities
    themselves (rows as given; not part of :meth:`to_dict`)."""

    temperature: float
    ece: float
    ece_calibrated: float
    nll: float
    nll_calibrated: float
    fold_temperatures: list[float]
    bins: ReliabilityBins
    bins_calibrated: ReliabilityBins
    calibrated: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "ece": round(self.ece, 4),
                "ece_calibrated": round(self.ece_calibrated, 4), "nll": round(self.nll, 4),
                "nll_calibrated": round(self.nll_calibrated, 4), "fold_temperatures": self.fold_temperatures,
                "bins": self.bins.to_dict(), "bins_calibrated": self.bins_calibrated.to_dict()}


def calibration_report(probs: np.ndarray, y: np.ndarray, folds: Sequence[object]) -> CalibrationReport:
    """:class:`CalibrationReport` of held-out ``probs`` (rows: clips) with true classes ``y`` from ``folds``."""
    calibrated, temps = crossfit_calibrate(probs, y, folds)
    return CalibrationReport(fit_temperature(probs, y), expected_calibration_error(probs, y),
                             expected_calibration_error(calibrated, y), nll(probs, y), nll(calibrated, y), temps,
                             reliability_bins(probs, y), reliability_bins(calibrated, y), calibrated)
