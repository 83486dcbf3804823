"""Linear read-outs (model.linear_readout=select, the default): the logistic regression, the model before training,
and the trainer keeping the read-outs unless an epoch beats them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import DIMS, quiet_torch, tiny_config, toy_clips

from avemotion.data.batch import collate
from avemotion.data.standardize import Standardizer
from avemotion.models.predict import predict_clips, predict_clips_mixes
from avemotion.models.readout import balanced_class_weights, fit_logistic
from avemotion.models.registry import build_model
from avemotion.training.toy import make_toy_store
from avemotion.training.trainer import run_training
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)


@pytest.mark.parametrize("width", [6, 120])  # more clips than columns (solved over W), fewer (in their span, W = V B)
def test_fit_logistic_is_scikit_learns_balanced_logistic_regression(width: int) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(30), np.ones(12), np.full(8, 2)].astype(np.int64)
    signal = np.zeros(width)
    signal[[0, 1, 4]] = [1.0, -0.5, 0.3]
    x = rng.normal(size=(50, width)) + y[:, None] * signal
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
    cfg = tiny_config(**{"model.linear_readout": "select", **extra})
    return build_model("bimodal", DIMS, 4, cfg.model), cfg


def test_read_outs_are_mixed_into_the_heads_by_their_weight_in_eval_mode_only() -> None:
    torch.manual_seed(0)
    model, cfg = _model()
    assert set(model.readouts) == {"audio", "video", "fused"} and model.readout_weights() == (1.0, 0.0, 0.5)
    assert not any(p.requires_grad for p in model.readouts.parameters())
    clips, labels = toy_clips(40)
    std = Standardizer.fit(clips, DIMS, cfg.train.max_abs_z)
    batch = collate(clips, DIMS, std, labels)
    assert model.prefit([batch], None, 4) == {"audio": 0.1, "video": 0.1, "fused": 0.1}
    assert model.readout_c() == {"audio": 0.1, "video": 0.1, "fused": 0.1}
    model.eval()
    network = model(batch)
    read = model.readout_logits(batch)
    model.set_readout_weight(1.0)
    alone = model(batch)
    model.set_readout_weight(0.5)
    half = model(batch)
    for head, (r, ok) in read.items():
        p_net, p_read = torch.softmax(network.logits[head][ok], 1), torch.softmax(r[ok], 1)
        assert torch.allclose(torch.softmax(alone.logits[head][ok], 1), p_read, atol=1e-5), head
        assert torch.allclose(torch.softmax(half.logits[head][ok], 1), (p_net + p_read) / 2, atol=1e-5), head
        # clips without the head's inputs keep the network's answer
        assert torch.equal(half.logits[head][~ok], network.logits[head][~ok]), head
    # the read-out weights in one pass of the network (validation): the same outputs to the bit
    for weights in ([0.0, 0.5], [1.0, 0.0, 0.5], [0.5]):
        refs = [{0.0: network, 1.0: alone, 0.5: half}[w] for w in weights]
        for out, ref in zip(model.forward_mixes(batch, weights), refs, strict=True):
            assert torch.equal(out.probs, ref.probs) and torch.equal(out.weights, ref.weights)
            assert all(torch.equal(out.logits[h], ref.logits[h]) for h in ref.logits)
        assert float(model.readout_weight) == 0.5
    ours = predict_clips_mixes(model, clips, DIMS, std, 16, [0.0, 0.5])
    for w, p in zip([0.0, 0.5], ours, strict=True):
        model.set_readout_weight(w)
        ref = predict_clips(model, clips, DIMS, std, 16)
        assert np.array_equal(p.probs, ref.probs) and np.array_equal(p.contributions, ref.contributions)
        assert all(np.array_equal(p.head_probs[h], ref.head_probs[h], equal_nan=True) for h in ref.head_probs)
    # the read-outs alone already separate the toy classes
    assert (alone.probs.argmax(1) == torch.as_tensor(labels)).float().mean() > 0.8
    # training mode: the network alone, whatever the weight
    model.train()
    torch.manual_seed(1)
    a = model(batch).logits["audio"]
    model.set_readout_weight(0.0)
    torch.manual_seed(1)
    assert torch.equal(model(batch).logits["audio"], a)
    # C chosen on validation clips when given
    val_clips, val_labels = toy_clips(20, seed=5)
    model2, _ = _model()
    chosen2 = model2.prefit([batch], [collate(val_clips, DIMS, std, val_labels)], 4)
    assert set(chosen2) == {"audio", "video", "fused"} and all(c in (0.001, 0.01, 0.1, 1.0) for c in chosen2.values())


def test_training_keeps_the_best_candidate_on_the_validation_clips(store_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(**{"train.folds": 2, "train.epochs": 3, "model.linear_readout": "select"})
    res = run_training(store_dir, tmp_path / "run", cfg)
    folds = [json.loads((tmp_path / "run/folds" / str(k) / "result.json").read_text()) for k in range(2)]
    for fold in folds:
        assert fold["readout_weight"] in (0.0, 0.5, 1.0)
        assert set(fold["readout_c"]) == {"audio", "video", "fused"}
        if fold["readout_weight"] == 1.0:
            assert fold["best_epoch"] == -1  # the read-outs alone: no epoch beat them
        else:
            assert fold["best_epoch"] >= 0
    assert res.metrics["ua"] > 0.5
    # the saved model holds its fitted read-outs and the chosen weight, and predicts as it did
    from avemotion.models.bundle import ModelBundle

    bundle = ModelBundle.load(tmp_path / "run/model")
    assert all(bool(r.fitted) for r in bundle.model.readouts.values())
    assert float(bundle.model.readout_weight) == float(np.median([f["readout_weight"] for f in folds]))
    fold0 = ModelBundle.load(tmp_path / "run/folds/0/model")
    assert float(fold0.model.readout_weight) == folds[0]["readout_weight"]


def test_small_data_folds_keep_the_read_outs(tmp_path: Path) -> None:
    """Validation clips = training clips (train_per_class): a network that fits them cannot beat read-outs that fit
    them too, so the read-outs alone are kept (logistic regression, not an overfitted network)."""
    root = tmp_path / "features"
    make_toy_store(root, n_clips=64, n_speakers=8, signal=3.0)
    cfg = tiny_config(**{"train.folds": 2, "train.epochs": 6, "train.train_per_class": 2,
                         "model.linear_readout": "auto"})  # -> select
    run_training(root, tmp_path / "run", cfg)
    for k in range(2):
        fold = json.loads((tmp_path / "run/folds" / str(k) / "result.json").read_text())
        assert fold["val_is_train"] and fold["readout_weight"] == 1.0 and fold["best_epoch"] == -1


# inner folds: cut in fold 2's first inner run; the candidates' answers resume with its track
@pytest.mark.parametrize("extra", [{}, {"train.inner_folds": 2}])
def test_interrupted_run_resumes_to_the_same_result(store_dir: Path, tmp_path: Path, extra: dict) -> None:
    cfg = tiny_config(**{"train.folds": 2, "train.epochs": 4, "model.linear_readout": "select",
                         "train.checkpoint_seconds": 0, **extra})
    full = run_training(store_dir, tmp_path / "full", cfg)

    def interrupt(stage: str, epoch: int) -> None:
        if stage.startswith("fold 2") and epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(store_dir, tmp_path / "cut", cfg, on_epoch_end=interrupt)
    resumed = run_training(store_dir, tmp_path / "cut", cfg)
    for k in ("wa", "ua", "f1_macro", "confusion"):
        assert resumed.metrics[k] == full.metrics[k], k
    for k in range(2):
        a, b = (json.loads((tmp_path / run / "folds" / str(k) / "result.json").read_text()) for run in ("full", "cut"))
        assert (a["readout_weight"], a["best_epoch"], a["readout_c"]) == (b["readout_weight"], b["best_epoch"],
                                                                           b["readout_c"])
    assert (tmp_path / "cut/model.safetensors").read_bytes() == (tmp_path / "full/model.safetensors").read_bytes()



def test_auto_selects_read_outs_only_for_small_data() -> None:
    from avemotion.training.selection import SMALL_DATA_PER_CLASS, resolve_readout

    assert tiny_config().model.linear_readout == "select"  # the default
    cfg = tiny_config(**{"model.linear_readout": "auto"})
    big = [np.repeat(np.arange(4), SMALL_DATA_PER_CLASS)] * 3
    small = big[:2] + [np.r_[np.repeat(np.arange(3), 20), [3, 3]]]  # one fold with 2 clips of class 3
    assert resolve_readout(cfg, big).model.linear_readout == "none"
    assert resolve_readout(cfg, small).model.linear_readout == "select"
    fixed = tiny_config(**{"model.linear_readout": "none"})
    assert resolve_readout(fixed, small).model.linear_readout == "none"
    # an unresolved "auto" builds the paper's network alone (as do old checkpoints, which lack the key)
    assert not len(build_model("bimodal", DIMS, 4, cfg.model).readouts)
    assert len(build_model("bimodal", DIMS, 4, tiny_config().model).readouts) == 3


def test_the_network_trains_as_it_would_without_read_outs(store_dir: Path, tmp_path: Path) -> None:
    """Read-outs add candidates, nothing else: the network's epochs, validation UAs and patience are those of the
    network alone (a strong read-out does not stop a network that is still improving)."""
    runs = {}
    for mode in ("none", "select"):
        cfg = tiny_config(**{"train.folds": 2, "train.epochs": 12, "train.patience": 3,
                             "model.linear_readout": mode})
        run_training(store_dir, tmp_path / mode, cfg)
        runs[mode] = [json.loads((tmp_path / mode / "folds" / str(k) / "result.json").read_text()) for k in range(2)]
    for alone, with_readouts in zip(runs["none"], runs["select"], strict=True):
        assert alone["epochs_run"] == with_readouts["epochs_run"]
        assert [h["val_ua"] for h in alone["history"]] == [h["val_ua"] for h in with_readouts["history"]]


def test_paired_ua_se_is_the_standard_error_of_the_per_class_recall_difference() -> None:
    from avemotion.training.metrics import paired_ua_se

    y = np.array([0, 0, 0, 0, 1, 1, 1])
    a = np.array([1, 1, 1, 0, 1, 0, 1], bool)
    assert paired_ua_se(y, a, a) == 0.0  # the same answers: no difference at all
    b = np.array([1, 0, 1, 1, 0, 0, 1], bool)
    d0, d1 = np.array([0, 1, 0, -1]), np.array([1, 0, 0])
    expected = np.sqrt(d0.var(ddof=1) / 4 + d1.var(ddof=1) / 3) / 2
    assert paired_ua_se(y, a, b) == pytest.approx(expected)
    assert paired_ua_se(y, b, a) == pytest.approx(expected)
    # a class with one clip adds nothing; UA's mean still runs over its K = 3 classes
    y3, a3, b3 = np.r_[y, 2], np.r_[a, True], np.r_[b, False]
    assert paired_ua_se(y3, a3, b3) == pytest.approx(expected * 2 / 3)


def test_a_network_epoch_must_beat_the_read_outs_by_the_margin(store_dir: Path, tmp_path: Path) -> None:
    """train.readout_margin changes which candidate is kept, not how the network trains: with margin 0 any better
    validation UA replaces the read-outs; with a margin no UA difference can clear, the read-outs stay."""
    runs = {}
    for margin in (0.0, 1000.0):
        cfg = tiny_config(**{"train.folds": 2, "train.epochs": 6, "model.linear_readout": "select",
                             "train.readout_margin": margin, "train.inner_folds": 0})
        run_training(store_dir, tmp_path / str(margin), cfg)
        runs[margin] = [json.loads((tmp_path / str(margin) / "folds" / str(k) / "result.json").read_text())
                        for k in range(2)]
    assert any(f["best_epoch"] >= 0 for f in runs[0.0])  # on this toy an epoch beats the read-outs somewhere
    for free, strict in zip(runs[0.0], runs[1000.0], strict=True):
        assert strict["readout_weight"] == 1.0 and strict["best_epoch"] == -1
        assert [h["val_ua"] for h in free["history"]] == [h["val_ua"] for h in strict["history"]]
