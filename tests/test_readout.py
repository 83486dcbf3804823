"""Prefit linear read-outs (model.linear_readout=prefit): the logistic regression, the model before training,
and the trainer keeping the read-outs unless an epoch beats them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import DIMS, quiet_torch, tiny_config, toy_clips

from avemotion.data.batch import Standardizer, collate
from avemotion.models.base import build_model
from avemotion.models.bimodal import balanced_class_weights
from avemotion.models.readout import fit_logistic, standardise_stats
from avemotion.training.toy import make_toy_store
from avemotion.training.trainer import run_training
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)


def test_fit_logistic_is_scikit_learns_balanced_logistic_regression() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(30), np.ones(12), np.full(8, 2)].astype(np.int64)
    x = rng.normal(size=(50, 6)) + y[:, None] * np.array([1.0, -0.5, 0, 0, 0.3, 0])
    xs = (x - x.mean(0)) / x.std(0)
    for c in (0.01, 1.0):
        ref = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, tol=1e-10).fit(xs, y)
        yt = torch.as_tensor(y)
        w, b = fit_logistic(torch.as_tensor(xs, dtype=torch.float32), yt, 3, c, balanced_class_weights(yt, 3)[yt])
        ours = torch.softmax(torch.as_tensor(xs, dtype=torch.float32) @ w.T + b, 1).numpy()
        assert np.abs(ours - ref.predict_proba(xs)).max() < 2e-3, c


def test_offset_is_kept_and_penalty_shrinks_towards_it() -> None:
    """With the log prior as offset and a strong penalty, the fit stays at the prior (the zero-shot answer)."""
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.normal(size=(8, 5)), dtype=torch.float32)
    y = torch.as_tensor([0, 1, 2, 0, 1, 2, 0, 1])
    prior = torch.softmax(torch.as_tensor(rng.normal(size=(8, 3)) * 2, dtype=torch.float32), 1)
    w, b = fit_logistic(x, y, 3, 1e-6, torch.ones(8), torch.log(prior))
    assert w.abs().max() < 1e-4
    z = x @ w.T + b + torch.log(prior)
    # only the (unpenalised) intercept may move; the prior's ranking within each clip barely changes
    assert (z.argmax(1) == (torch.log(prior) + b).argmax(1)).all()


def _model(**extra: object):
    cfg = tiny_config(**{"model.linear_readout": "prefit", **extra})
    return build_model("bimodal", DIMS, 4, cfg.model), cfg


def test_model_starts_as_its_read_outs_and_they_stay_frozen() -> None:
    torch.manual_seed(0)
    model, cfg = _model()
    assert set(model.readouts) == {"audio", "video", "fused"}
    assert not any(p.requires_grad for p in model.readouts.parameters())
    clips, labels = toy_clips(40)
    std = Standardizer.fit(clips, DIMS, cfg.train.max_abs_z)
    batch = collate(clips, DIMS, std, labels)
    chosen = model.prefit([batch], None, 4)
    assert chosen == {"audio": 0.1, "video": 0.1, "fused": 0.1}
    assert all(bool(r.fitted) for r in model.readouts.values())
    out = model.eval()(batch)
    for head, (x, ok) in model.readout_inputs(batch).items():
        expected = model.readouts[head](x)[ok]
        assert torch.allclose(out.logits[head][ok], expected, atol=1e-5), head
    # the read-outs alone already separate the toy classes
    assert (out.probs.argmax(1) == torch.as_tensor(labels)).float().mean() > 0.8
    # C chosen on validation clips when given
    val_clips, val_labels = toy_clips(20, seed=5)
    model2, _ = _model()
    chosen2 = model2.prefit([batch], [collate(val_clips, DIMS, std, val_labels)], 4)
    assert set(chosen2) == {"audio", "video", "fused"} and all(c in (0.001, 0.01, 0.1, 1.0) for c in chosen2.values())


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy") / "features"
    make_toy_store(root, n_clips=64, n_speakers=8, signal=2.0)
    return root


def test_training_keeps_the_read_outs_unless_an_epoch_beats_them(store_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(**{"train.folds": 2, "train.epochs": 3, "model.linear_readout": "prefit"})
    res = run_training(store_dir, tmp_path / "run", cfg)
    folds = [json.loads((tmp_path / "run/folds" / str(k) / "result.json").read_text()) for k in range(2)]
    for fold in folds:
        history = fold["history"]
        assert fold["best_epoch"] >= -1
        if fold["best_epoch"] >= 0:  # a kept epoch beat the read-outs on the validation clips
            assert history[fold["best_epoch"]]["val_ua"] >= fold["val_ua"] - 1e-9
    assert res.metrics["ua"] > 0.5
    # the saved model holds its read-outs (fitted) and predicts as it did
    from avemotion.models.bundle import ModelBundle

    bundle = ModelBundle.load(tmp_path / "run/model")
    assert all(bool(r.fitted) for r in bundle.model.readouts.values())
