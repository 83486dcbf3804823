"""Unweighted accuracy (UA): the mean over the classes present in the true labels of each class's recall.

The one implementation used by the metrics, the linear read-outs' choice of C, the classical baselines' choice
of C and the inner folds' pooled choice. Classes absent from the true labels are left out (a prediction of
such a class still counts as wrong); without any clip the UA is 0."""

from __future__ import annotations

import numpy as np


def unweighted_accuracies(correct: np.ndarray, y_true: np.ndarray,
                          mask: np.ndarray | None = None) -> np.ndarray:
    """UA of each row of ``correct`` (K, N) bool (which clips each of K answers gets right) against the true
    labels ``y_true`` (N,), on the clips in ``mask`` (default: all); zeros when no clip is left."""
    sub, ys = (correct, y_true) if mask is None else (correct[:, mask], y_true[mask])
    if not len(ys):
        return np.zeros(len(correct))
    return np.stack([sub[:, ys == c].mean(1) for c in np.unique(ys)], 1).mean(1)


def unweighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """UA of the predicted labels ``y_pred`` against ``y_true`` (both (N,) int)."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    return float(unweighted_accuracies((p == t)[None, :], t)[0])
