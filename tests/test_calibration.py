"""Calibrated confidence (models/calibration.py): temperature scaling fitted on held-out answers, ECE, and a
trained run that keeps its temperature with the final model and applies it when predicting."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from model_helpers import quiet_torch, tiny_config

from avemotion.models.calibration import (
    apply_temperature,
    calibration_report,
    crossfit_calibrate,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)


def _overconfident(n: int = 2000, sharpen: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Answers whose classes are drawn from softmax(z) while the model reports softmax(sharpen * z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, (n, 5))
    true_p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(5, p=p) for p in true_p])
    shown = np.exp(sharpen * z) / np.exp(sharpen * z).sum(1, keepdims=True)
    return shown, y


def test_temperature_keeps_every_argmax_and_one_is_identity() -> None:
    p, _ = _overconfident(200)
    for t in (0.3, 1.7, 5.0):
        q = apply_temperature(p, t)
        assert np.array_equal(q.argmax(1), p.argmax(1)) and np.allclose(q.sum(1), 1.0)
    assert apply_temperature(p, 1.0) is not None and np.array_equal(apply_temperature(p, 1.0), p)
    assert apply_temperature(p, 3.0).max(1).mean() < p.max(1).mean()  # T > 1 softens


def test_fit_recovers_the_overconfidence_and_lowers_the_ece() -> None:
    p, y = _overconfident(sharpen=3.0)
    t = fit_temperature(p, y)
    assert 2.5 < t < 3.5
    assert expected_calibration_error(apply_temperature(p, t), y) < 0.5 * expected_calibration_error(p, y)
    under, y2 = _overconfident(sharpen=0.5, seed=1)
    assert fit_temperature(under, y2) < 0.7  # an under-confident model is sharpened
    assert fit_temperature(p[:10], y[:10]) == 1.0  # too few answers: left alone


def test_ece_and_bins_on_a_hand_made_case() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    y = np.array([0, 1, 0, 0])  # 0.9-bin: 1/2 right; 0.6-bin: 2/2 right
    bins = reliability_bins(probs, y, bins=10)
    assert bins.counts[8] == 2 and bins.counts[5] == 2 and sum(bins.counts) == 4
    assert bins.accuracy[8] == 0.5 and bins.confidence[5] == 0.6
    assert expected_calibration_error(probs, y, bins=10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)


def test_crossfit_never_uses_a_folds_own_answers() -> None:
    p, y = _overconfident(600)
    folds = np.repeat([0, 1, 2], 200)
    _, temps = crossfit_calibrate(p, y, folds)
    y_changed = y.copy()
    y_changed[:200] = (y_changed[:200] + 1) % 5  # fold 0's own labels all wrong: its T must not move
    _, temps2 = crossfit_calibrate(p, y_changed, folds)
    assert temps2[0] == temps[0] and temps2[1] != temps[1]
    report = calibration_report(p, y, folds)
    assert report.ece_calibrated < report.ece and report.nll_calibrated < report.nll


def test_trained_run_keeps_and_applies_its_temperature(store_dir: Path, tmp_path: Path) -> None:
    from avemotion.data.store import FeatureStore
    from avemotion.inference.predict import Predictor
    from avemotion.models.predict import predict_clips
    from avemotion.training.trainer import run_training

    cfg = tiny_config(**{"train.folds": 4, "train.epochs": 3, "train.inner_folds": 0})
    metrics = run_training(store_dir, tmp_path / "run", cfg).metrics
    cal = metrics["calibration"]
    assert {"temperature", "ece", "ece_calibrated", "bins", "fold_temperatures"} <= set(cal)
    assert len(cal["fold_temperatures"]) == 4 and 0.05 <= cal["temperature"] <= 20
    assert (tmp_path / "run" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((tmp_path / "run" / "predictions.csv").open()))
    assert all(0 < float(r["confidence_calibrated"]) <= 1 for r in rows)
    saved = json.loads((tmp_path / "run" / "model.json").read_text())["meta"]["info"]
    assert saved["temperature"] == cal["temperature"]
    predictor = Predictor.load(tmp_path / "run")
    assert predictor.temperature == cal["temperature"]
    _, feats = FeatureStore(store_dir).load_all()
    clip = feats[0]
    pred = predictor.predict(clip)
    b = predictor.bundle
    raw = predict_clips(b.model, [b.selection.apply(clip)], b.dims, b.standardizer).probs[0]
    expected = apply_temperature(raw, cal["temperature"])
    assert [pred.probabilities[lab] for lab in b.labels] == pytest.approx(expected.tolist(), abs=1e-6)
    assert pred.emotion == b.labels[int(raw.argmax())]
