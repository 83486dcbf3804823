"""Where a model's answers stop being trustworthy: a confidence threshold measured on held-out predictions.

``uncertain_below(confidence, correct)`` fits how often held-out answers were right as a non-decreasing
function of their confidence (isotonic regression, as in isotonic calibration) and returns the lowest
confidence from which that rate reaches one half: an answer below it is more likely wrong than right, and the
page and reports call it "uncertain". ``None`` when every answer's rate is at least one half (nothing is
uncertain) or there are fewer than ``min_clips`` answers.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

LEVEL = 0.5  # accuracy under which answers count as uncertain
MIN_CLIPS = 20


def uncertain_below(confidence: np.ndarray, correct: np.ndarray, *, level: float = LEVEL,
                    min_clips: int = MIN_CLIPS) -> float | None:
    from sklearn.isotonic import IsotonicRegression

    conf = np.asarray(confidence, float)
    ok = np.asarray(correct, float)
    if len(conf) < min_clips:
        return None
    rate = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(conf, ok).predict(conf)
    if rate.min() >= level:
        return None
    reached = conf[rate >= level]
    return round(float(reached.min() if len(reached) else conf.max()), 4)


def uncertain_below_from_predictions(path: str | Path) -> float | None:
    """The threshold from a run's held-out ``predictions.csv`` (``true``, ``pred``, ``p_<label>`` columns)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    probs = [[float(v) for k, v in r.items() if k.startswith("p_") and v not in ("", None)] for r in rows]
    keep = [i for i, p in enumerate(probs) if p]
    if not keep:
        return None
    # the calibrated confidence a user of the final model sees, where the run wrote it
    conf = [float(rows[i]["confidence_calibrated"]) if rows[i].get("confidence_calibrated") else max(probs[i])
            for i in keep]
    return uncertain_below(np.array(conf),
                           np.array([rows[i]["true"] == rows[i]["pred"] for i in keep]))
