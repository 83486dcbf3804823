from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from model_helpers import TINY_ARGS, quiet_torch, tiny_config, toy_clips

from avemotion.cli.main import main
from avemotion.data.selection import FeatureSelection, group_family
from avemotion.data.standardize import Standardizer
from avemotion.errors import AvemotionError
from avemotion.training.splits import make_splits
from avemotion.training.trainer import run_training
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)


# --- splits ---------------------------------------------------------------------------------------------
def _ids_labels_speakers(n: int = 80, speakers: int = 8):
    ids = [f"c{i}" for i in range(n)]
    y = np.arange(n) % 4
    spk = [f"s{(i // 4) % speakers}" for i in range(n)]
    return ids, y, spk


def test_kfold_is_speaker_grouped_stratified_and_seeded() -> None:
    ids, y, spk = _ids_labels_speakers()
    cfg = tiny_config(**{"train.folds": 4}).train
    s = make_splits(ids, y, spk, cfg)
    assert s.grouped and len(s.folds) == 4
    by_id = dict(zip(ids, spk, strict=True))
    tested = []
    for f in s.folds:
        parts = [set(f.train), set(f.val), set(f.test)]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert len(set().union(*parts)) == len(ids)
        spk_sets = [{by_id[c] for c in p} for p in parts]
        assert not (spk_sets[0] & spk_sets[2]) and not (spk_sets[1] & spk_sets[2]) and not (spk_sets[0] & spk_sets[1])
        tested += f.test
    assert sorted(tested) == sorted(ids)  # every clip tested exactly once
    assert make_splits(ids, y, spk, cfg).to_dict() == s.to_dict()
    other = make_splits(ids, y, spk, tiny_config(**{"train.folds": 4, "train.seed": 1}).train)
    assert other.to_dict() != s.to_dict()


def test_random_split_and_leave_one_speaker_out() -> None:
    ids, y, spk = _ids_labels_speakers()
    s = make_splits(ids, y, spk, tiny_config(**{"train.scheme": "split"}).train)
    f = s.folds[0]
    assert (len(f.train), len(f.val), len(f.test)) == (64, 8, 8)
    assert sorted(np.bincount(y[[ids.index(c) for c in f.test]]).tolist()) == [2, 2, 2, 2]  # stratified
    logo = make_splits(ids, y, spk, tiny_config(**{"train.scheme": "logo"}).train)
    assert len(logo.folds) == 8 and all(len({spk[ids.index(c)] for c in f.test}) == 1 for f in logo.folds)
    nospk = make_splits(ids, y, [None] * len(ids), tiny_config().train)
    assert not nospk.grouped and nospk.notes


# --- feature selection and standardisation -------------------------------------------------------------
def test_feature_group_selection() -> None:
    clips, _ = toy_clips(4)
    assert group_family("IS09") == "opensmile" and group_family("mfcc_stats") == "mfcc"
    sel = FeatureSelection.fit(clips, "av", ["mfcc"])
    assert sel.dims.audio_seq == 6 and sel.dims.audio_vec == 8 and sel.dims.video == 10
    out = sel.apply(clips[0])
    np.testing.assert_array_equal(out.audio_vec, clips[0].audio_vec[0:8])
    sel = FeatureSelection.fit(clips, "audio", ["opensmile", "soundnet"])
    assert sel.dims.audio_seq == 6 and sel.dims.audio_vec == 32 and sel.dims.video == 0
    assert sel.apply(clips[0]).video_seq is None
    assert FeatureSelection.from_dict(json.loads(json.dumps(sel.to_dict()))).dims == sel.dims
    with pytest.raises(AvemotionError, match="selects no audio feature group"):
        FeatureSelection.fit(clips, "av", ["wav2vec"])
    assert FeatureSelection.fit(clips, "video", []).dims.has_audio is False


def test_standardizer_ignores_faceless_frames() -> None:
    clips, _ = toy_clips(10)
    sel = FeatureSelection.fit(clips, "av", ["mfcc", "opensmile", "soundnet"])
    std = Standardizer.fit(clips, sel.dims)
    frames = np.concatenate([c.video_seq[c.video_mask] for c in clips if c.video_seq is not None])
    np.testing.assert_allclose(std.mean["video"], frames.mean(0), rtol=1e-4, atol=1e-4)
    vecs = np.stack([c.audio_vec for c in clips])
    np.testing.assert_allclose(std.std["audio_vec"], vecs.std(0), rtol=1e-4)


# --- training runs --------------------------------------------------------------------------------------
def _cfg(**extra):
    return tiny_config(**{"train.folds": 2, "train.epochs": 4, **extra})


def test_resume_after_interruption_gives_the_same_result(store_dir: Path, tmp_path: Path) -> None:
    # one validation part per fold (train.inner_folds=0): the fold's own state; inner folds: test_readout.py
    cfg = _cfg(**{"train.inner_folds": 0})
    full = run_training(store_dir, tmp_path / "full", cfg)
    calls: list[tuple[str, int]] = []

    def interrupt(stage: str, epoch: int) -> None:
        calls.append((stage, epoch))
        if stage.startswith("fold 2") and epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(store_dir, tmp_path / "cut", cfg, on_epoch_end=interrupt)
    assert (tmp_path / "cut/folds/0/result.json").is_file() and (tmp_path / "cut/folds/1/state.json").is_file()
    calls.clear()
    resumed = run_training(store_dir, tmp_path / "cut", cfg, on_epoch_end=lambda s, e: calls.append((s, e)))
    assert not any(s.startswith("fold 1") for s, _ in calls)  # the finished fold is skipped
    assert [e for s, e in calls if s.startswith("fold 2")][0] == 2  # resumed after epoch index 1
    for k in ("wa", "ua", "f1_macro", "cc", "confusion"):
        assert resumed.metrics[k] == full.metrics[k], k
    assert not (tmp_path / "cut/folds/1/state.json").exists()
    other = _cfg(**{"train.inner_folds": 0, "train.lr": 0.01})
    with pytest.raises(AvemotionError, match="another config"):
        run_training(store_dir, tmp_path / "cut", other)
    # what the demo asks before training into its own folder again (it starts a stale run over)
    from avemotion.training.run_setup import holds_other_run

    assert holds_other_run(tmp_path / "cut", store_dir, other) and not holds_other_run(tmp_path / "cut", store_dir, cfg)
    assert not holds_other_run(tmp_path / "nothing", store_dir, other)


def test_cli_train_and_predict_end_to_end(store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    rc = main(["-q", "train", "--features", str(store_dir), "--out", str(run), "--cv", "2", "--epochs", "3",
               *TINY_ARGS])
    assert rc == 0
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("wa", "ua", "f1_macro", "cc", "cc_per_class", "labels", "confusion", "per_fold",
                "latency_ms_per_clip", "modality", "model", "config"):
        assert key in metrics, key
    assert metrics["labels"] == ["anger", "joy", "sadness", "trust"] and len(metrics["per_fold"]) == 2
    # the toy store records no emotion grades: CC is absent with its reason, not a number from the label order
    assert metrics["cc"] is None and "no emotion grades" in metrics["cc_undefined"]
    assert metrics["cc_undefined_folds"] == 2
    assert np.allclose([sum(r) for r in metrics["confusion"]], 1.0)
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["folds"] == 2
    splits = json.loads((run / "splits.json").read_text())
    assert splits["grouped"] and len(splits["folds"]) == 2
    assert (run / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((run / "predictions.csv").open()))
    assert len(rows) == 64 and {"clip_id", "fold", "true", "pred", "p_joy", "contrib_audio"} <= set(rows[0])
    audio_only = next(r for r in rows if r["modalities"] == "audio")
    assert float(audio_only["contrib_audio"]) == 1.0
    capsys.readouterr()
    ids = [r["clip_id"] for r in rows]
    wav_id = audio_only["clip_id"]
    rc = main(["-q", "predict", "--model", str(run), "--features", str(store_dir), "--clip", ids[0],
               "--clip", wav_id, "--json"])
    assert rc == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 2 and all(abs(sum(o["probabilities"].values()) - 1) < 1e-5 for o in out)
    by_id = {o["clip_id"]: o for o in out}
    assert by_id[wav_id]["modalities_used"] == "audio" and "audio branch" in by_id[wav_id]["note"]
    assert set(by_id[wav_id]["heads"]) == {"audio"}
    # audio-only training on the same store, with the 8:1:1 split
    rc = main(["-q", "train", "--features", str(store_dir), "--out", str(tmp_path / "a"), "--modality", "audio",
               "--split", "8:1:1", "--epochs", "2", *TINY_ARGS])
    assert rc == 0
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["modality"] == "audio" and m["scheme"] == "split"


def test_ensemble_members_average_and_round_trip(store_dir: Path, tmp_path: Path) -> None:
    from avemotion.inference.predict import Predictor
    from avemotion.models.ensemble import Ensemble

    # (one validation part: on this toy the inner folds may keep the read-outs alone, which all members share)
    single = run_training(store_dir, tmp_path / "one", _cfg(**{"train.inner_folds": 0}))
    res = run_training(store_dir, tmp_path / "three", _cfg(**{"train.ensemble": 3, "train.inner_folds": 0}))
    assert (tmp_path / "three/folds/0/result.json").is_file()
    assert not (tmp_path / "three/folds/0/m1/state.json").exists()
    pred = Predictor.load(tmp_path / "three")
    model = pred.bundle.model
    assert isinstance(model, Ensemble) and len(model.members) == 3
    # the members differ (seeds) and the ensemble's probabilities are their mean
    from avemotion.data.batch import collate
    from avemotion.data.store import FeatureStore

    _, feats = FeatureStore(store_dir).load_all()
    batch = collate([pred.bundle.selection.apply(f) for f in feats[:8]], pred.bundle.dims, pred.bundle.standardizer)
    outs = [m(batch).probs for m in model.members]
    assert not torch.allclose(outs[0], outs[1])
    torch.testing.assert_close(model(batch).probs, sum(outs) / 3)
    assert single.metrics["ua"] >= 0 and 0 <= res.metrics["ua"] <= 1


def test_train_per_class_keeps_few_clips_and_the_test_folds() -> None:
    ids, y, spk = _ids_labels_speakers()
    full = make_splits(ids, y, spk, tiny_config(**{"train.folds": 4}).train)
    few = make_splits(ids, y, spk, tiny_config(**{"train.folds": 4, "train.train_per_class": 2}).train)
    index = {c: i for i, c in enumerate(ids)}
    for a, b in zip(full.folds, few.folds, strict=True):
        assert a.test == b.test and b.val == b.train
        counts = np.bincount([y[index[c]] for c in b.train], minlength=4)
        assert counts.max() == 2 and set(b.train) <= set(a.train) | set(a.val)
        assert not set(b.train) & set(b.test)
    assert any("small-data" in n for n in few.notes)


def test_refit_trains_again_on_train_and_val_for_the_chosen_epochs(store_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import avemotion.training.folds as folds
    from avemotion.models.bundle import ModelBundle
    from avemotion.training.splits import Splits

    calls: list[dict] = []
    real = folds.fit_members

    def spy(setup, plan):
        out = real(setup, plan)
        ids = setup.clipset.clip_ids
        calls.append({"stage": plan.stage, "train": {ids[i] for i in plan.train_idx},
                      "val": None if plan.val_idx is None else {ids[i] for i in plan.val_idx},
                      "epochs": plan.epochs, "seed": plan.seed, "std": out[1], "track": out[2]})
        return out

    monkeypatch.setattr(folds, "fit_members", spy)
    res = run_training(store_dir, tmp_path / "r", _cfg(**{"train.refit": True, "train.inner_folds": 0}))
    splits = Splits.load(tmp_path / "r" / "splits.json")
    assert [c["stage"] for c in calls] == ["fold 1/2", "fold 1/2 refit", "fold 2/2", "fold 2/2 refit", "final model"]
    for i, fold in enumerate(splits.folds):
        chosen, refit = calls[2 * i], calls[2 * i + 1]
        assert chosen["train"] == set(fold.train) and chosen["val"] == set(fold.val)
        # the refit sees training + validation clips, no validation, the epochs early stopping chose, the same seed
        assert refit["train"] == set(fold.train) | set(fold.val) and refit["val"] is None
        assert refit["epochs"] == chosen["track"].best_epoch + 1 and refit["seed"] == chosen["seed"]
        # the fold's tested model is the refitted one (standardised with train + val statistics)
        saved = ModelBundle.load(tmp_path / "r" / "folds" / str(i) / "model").standardizer
        for key, mean in refit["std"].mean.items():
            np.testing.assert_array_equal(saved.mean[key], mean)
            assert not np.array_equal(mean, chosen["std"].mean[key])
        assert not list((tmp_path / "r" / "folds" / str(i)).rglob("state.*"))
    assert 0 <= res.metrics["ua"] <= 1
