"""Evaluation metrics (paper section 4.3).

- ``wa``: weighted accuracy = overall accuracy;
- ``ua``: unweighted accuracy = mean per-class recall over the classes present in the true labels;
- ``f1_macro``: mean F1 over the classes present in true or predicted labels (scikit-learn's convention);
- ``cc``: Pearson r between the grade values (LabelSet.grade_values(): interval centres) of predicted and
  true emotions (sec. 4.3.3); ``None`` when undefined, with the reason in ``cc_undefined``: the label set has
  no grades, or the true or predicted grades are constant (e.g. a fold with one class);
- ``cc_per_class``: per class c, Pearson r between the indicator [true == c] and the predicted probability
  of c (a point-biserial correlation: how well the score of c tracks the presence of c); ``None`` if undefined;
- ``confusion``: row-normalised confusion matrix (rows true, columns predicted; an empty row stays zeros).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from avemotion.models.accuracy import unweighted_accuracy


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.size < 2:
        return None
    xc, yc = x - x.mean(), y - y.mean()
    den = np.sqrt((xc**2).sum() * (yc**2).sum())
    if den <= 1e-15:
        return None
    return float((xc * yc).sum() / den)


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int], probs: np.ndarray | None, labels: Sequence[str],
                    grades: np.ndarray | None) -> dict:
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    n = len(labels)
    cm = confusion_counts(t, p, n)
    support = cm.sum(1)
    predicted = cm.sum(0)
    tp = np.diag(cm).astype(np.float64)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros(n), where=present)
    precision = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=(precision + recall) > 0)
    f1_classes = present | (predicted > 0)
    out: dict = {
        "n": int(t.size),
        "wa": float(tp.sum() / max(t.size, 1)),
        "ua": unweighted_accuracy(t, p),
        "f1_macro": float(f1[f1_classes].mean()) if f1_classes.any() else 0.0,
        "cc": None if grades is None else _pearson(grades[p], grades[t]),
        "recall": {labels[i]: float(recall[i]) for i in range(n) if present[i]},
        "confusion": np.divide(cm, support[:, None], out=np.zeros((n, n)), where=present[:, None]).tolist(),
        "confusion_counts": cm.tolist(),
    }
    if grades is None:
        out["cc_undefined"] = "the label set has no emotion grades"
    elif out["cc"] is None:
        out["cc_undefined"] = "the true or the predicted grades are constant"
    if probs is not None:
        out["cc_per_class"] = {labels[c]: _pearson((t == c).astype(np.float64), probs[:, c]) for c in range(n)}
    return out


def paired_ua_se(y_true: Sequence[int], correct_a: Sequence[bool], correct_b: Sequence[bool]) -> float:
    """Standard error of UA(a) - UA(b) for two models scored on the same clips: UA is the mean over the present
    classes of each class's recall, so the difference is (1/K) sum_c mean_{i in c} d_i with d_i = correct_a[i] -
    correct_b[i], and its variance (1/K^2) sum_c var_c(d) / n_c (sample variance; a class with one clip adds 0).
    Clips both models get right or both get wrong add nothing: the paired error is small when the two agree."""
    t = np.asarray(y_true, dtype=np.int64)
    d = np.asarray(correct_a, dtype=np.float64) - np.asarray(correct_b, dtype=np.float64)
    classes = np.unique(t)
    if classes.size == 0:
        return 0.0
    var = sum(float(d[t == c].var(ddof=1)) / int((t == c).sum()) for c in classes if (t == c).sum() > 1)
    return float(np.sqrt(var)) / classes.size
