"""train.inner_folds: the cross-fitted score of "the best of many candidates", the choice on pooled inner-fold answers
(training/selection.py) and the trainer's use of them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model_helpers import quiet_torch, tiny_config

from avemotion.training.selection import ValAnswers, choose_pooled, crossfit_ua, pack_correct, unpack_correct
from avemotion.training.trainer import run_training
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)


def _ua(correct: np.ndarray, y: np.ndarray) -> float:  # written out again: the tests check the module's version
    return float(np.mean([correct[y == c].mean() for c in np.unique(y)]))


@pytest.mark.parametrize("n", [0, 1, 7, 8, 61])
def test_packed_answers_round_trip(n: int) -> None:
    bits = np.random.default_rng(n).random(n) < 0.5
    assert np.array_equal(unpack_correct(pack_correct(bits), n), bits)


def test_the_best_of_many_coin_flips_is_not_flattered() -> None:
    """100 candidates that are all coin flips, like the reference: the best of them looks 10+ points better on
    the clips that chose it, but cross-fitted it is no better than the reference."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 10)
    cands = rng.random((100, 60)) < 0.5
    ref = rng.random(60) < 0.5
    in_sample = max(_ua(c, y) for c in cands)
    cf = crossfit_ua(y, cands, ref, seed=1)
    assert in_sample > _ua(ref, y) + 0.1
    assert abs(cf.chosen - 0.5) < 0.05 and abs(cf.reference - _ua(ref, y)) < 0.03
    assert cf.halves == 40 and cf.chosen < in_sample - 0.1


def test_a_genuinely_better_candidate_wins_cross_fitted() -> None:
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(6), 6)  # a small validation speaker: 36 clips
    cands = rng.random((60, 36)) < 0.5
    cands[37] = rng.random(36) < 0.85  # one epoch is really better
    ref = rng.random(36) < 0.5
    cf = crossfit_ua(y, cands, ref, seed=3)
    # (chosen on 18 clips, the better epoch is not always found: the held-out score is a little pessimistic)
    assert cf.chosen > cf.reference + 0.15 and cf.wins >= 0.75 * cf.halves
    assert crossfit_ua(y, cands, ref, seed=3) == cf  # seeded: the same answer again


def test_tiny_validation_sets_still_give_an_answer() -> None:
    y = np.array([0, 1, 2])  # one clip per class: every split leaves a class out of one half
    cf = crossfit_ua(y, np.array([[1, 1, 0], [0, 0, 0]], bool), np.array([1, 0, 0], bool), seed=0)
    assert 0.0 <= cf.chosen <= 1.0 and 0.0 <= cf.reference <= 1.0 and cf.halves > 0
    one = crossfit_ua(np.array([0]), np.array([[True]]), np.array([False]), seed=0)  # no split possible
    assert (one.chosen, one.reference, one.halves) == (1.0, 0.0, 1)
    assert crossfit_ua(np.array([], dtype=int), np.zeros((2, 0), bool), np.zeros(0, bool)).chosen == 0.0


def _answers(y: np.ndarray, cands: np.ndarray, ref: np.ndarray | None) -> ValAnswers:
    return ValAnswers(y, [pack_correct(c) for c in cands], ref, len(cands) // 2)


def test_pooled_choice_over_inner_runs() -> None:
    """Two inner runs (two mixes per epoch): the candidate best over both runs' clips pooled wins, epochs only one
    run reached are left out, and the read-outs stay unless the network beats them cross-fitted."""
    rng = np.random.default_rng(5)
    y1, y2 = np.repeat(np.arange(3), 20), np.repeat(np.arange(3), 10)
    c1, c2 = rng.random((8, 60)) < 0.5, rng.random((6, 30)) < 0.5  # run 1: 4 epochs, run 2: 3 epochs
    c1[5], c2[5] = rng.random(60) < 0.9, rng.random(30) < 0.9  # epoch 2 averaged with the read-outs
    c1[7] = True  # epoch 3 (run 1 only) is perfect but not pooled
    ref1, ref2 = rng.random(60) < 0.6, rng.random(30) < 0.6
    choice = choose_pooled([_answers(y1, c1, ref1), _answers(y2, c2, ref2)], [0.0, 0.5])
    assert (choice.epoch, choice.mix) == (2, 0.5) and len(choice.curve) == 3
    assert choice.network_ua is not None and choice.readout_ua is not None
    assert choice.network_ua > choice.readout_ua and choice.ua > 0.8
    strong = choose_pooled([_answers(y1, c1, np.ones(60, bool)), _answers(y2, c2, np.ones(30, bool))], [0.0, 0.5])
    assert (strong.epoch, strong.mix, strong.ua) == (-1, 1.0, 1.0)  # perfect read-outs stay
    plain = choose_pooled([_answers(y1, c1[::2], None), _answers(y2, c2[::2], None)], [0.0])
    assert plain.readout_ua is None and plain.epoch >= 0 and plain.mix == 0.0


def test_inner_folds_cover_the_clips_grouped_by_speaker() -> None:
    from avemotion.training.splits import inner_folds

    y = np.tile(np.arange(3), 20)
    speakers = [f"s{i % 5}" for i in range(60)]
    parts = inner_folds(y, speakers, 3, seed=0)
    assert len(parts) == 3 and np.array_equal(np.sort(np.concatenate(parts)), np.arange(60))
    for p in parts:  # no speaker in two parts
        assert not {speakers[i] for i in p} & {speakers[i] for q in parts if q is not p for i in q}
    assert len(inner_folds(y, speakers[:0] + ["a"] * 30 + ["b"] * 30, 3, seed=0)) == 2  # capped at 2 speakers
    unknown = inner_folds(y, [None] * 60, 3, seed=0)
    assert len(unknown) == 3 and all(np.bincount(y[p]).min() >= 6 for p in unknown)  # stratified


def test_inner_folds_choose_on_pooled_answers(store_dir: Path, tmp_path: Path) -> None:
    """train.inner_folds=3: each fold trains a model per inner fold, chooses on their pooled answers (the read-outs
    alone, or an epoch count and weight) and trains its model on training + validation clips; the inner runs'
    states are gone when the fold is done, and the pooled learning curve is the fold's history."""
    cfg = tiny_config(**{"train.folds": 2, "train.epochs": 4, "model.linear_readout": "select",
                         "train.inner_folds": 3})
    res = run_training(store_dir, tmp_path / "run", cfg)
    for k in range(2):
        fold = json.loads((tmp_path / "run" / "folds" / str(k) / "result.json").read_text())
        assert (fold["readout_weight"] == 1.0) == (fold["best_epoch"] == -1)
        assert fold["readout_weight"] in (0.0, 0.5, 1.0) and set(fold["readout_c"]) == {"audio", "video", "fused"}
        assert 1 <= len(fold["history"]) <= 4 and all(0 <= h["val_ua"] <= 1 for h in fold["history"])
        assert not list((tmp_path / "run" / "folds" / str(k)).glob("inner*/state.*"))
    assert 0.0 <= res.metrics["ua"] <= 1.0


def test_inner_runs_split_the_pool_by_speaker_and_the_fold_model_uses_the_choice(
        store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import avemotion.training.folds as folds
    import avemotion.training.inner as inner_runs
    from avemotion.training.splits import Splits

    fits: list[dict] = []
    members: list[dict] = []
    real_fit, real_members = inner_runs.fit, folds.fit_members

    def spy_fit(setup, plan):
        out = real_fit(setup, plan)
        clipset = setup.clipset
        if plan.val_idx is not None:
            fits.append({"stage": plan.stage, "train": set(plan.train_idx.tolist()), "val": set(plan.val_idx.tolist()),
                         "speakers": {clipset.speakers[i] for i in plan.val_idx}, "ids": clipset.clip_ids})
        return out

    def spy_members(setup, plan):
        members.append({"stage": plan.stage, "train": {setup.clipset.clip_ids[i] for i in plan.train_idx},
                        "val": plan.val_idx, "epochs": plan.epochs, "mix": plan.readout_weight})
        return real_members(setup, plan)

    monkeypatch.setattr(inner_runs, "fit", spy_fit)  # the inner runs (training/inner.py)
    monkeypatch.setattr(folds, "fit_members", spy_members)
    cfg = tiny_config(**{"train.folds": 2, "train.epochs": 4, "train.inner_folds": 3})
    run_training(store_dir, tmp_path / "r", cfg)
    splits = Splits.load(tmp_path / "r" / "splits.json")
    for i, fold in enumerate(splits.folds):
        pool = set(fold.train) | set(fold.val)
        inner = [f for f in fits if f["stage"].startswith(f"fold {i + 1}/2 inner")]
        assert len(inner) == 3
        ids = inner[0]["ids"]
        # the inner validation parts cover the pool once, no speaker in two of them, none of the test clips
        assert sorted(ids[j] for f in inner for j in f["val"]) == sorted(pool)
        assert all(not (a["speakers"] & b["speakers"]) for a in inner for b in inner if a is not b)
        assert all({ids[j] for j in f["train"] | f["val"]} == pool for f in inner)
        refit = next(m for m in members if m["stage"] == f"fold {i + 1}/2 refit")
        result = json.loads((tmp_path / "r" / "folds" / str(i) / "result.json").read_text())
        assert refit["train"] == pool and refit["val"] is None
        assert refit["epochs"] == max(0, result["best_epoch"] + 1) and refit["mix"] == result["readout_weight"]
    assert [m["stage"] for m in members] == ["fold 1/2 refit", "fold 2/2 refit", "final model"]
