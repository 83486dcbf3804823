"""``video.groups``: which stored per-frame face groups a model uses (the network, the read-outs and the classical
baselines alike), saved with the model; a selection, not an extraction setting (stores and old runs keep their
hashes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from model_helpers import quiet_torch, tiny_config

from avemotion.config import Config
from avemotion.data.extract import config_hash
from avemotion.data.selection import FeatureSelection
from avemotion.data.store import FeatureStore
from avemotion.errors import AvemotionError, ConfigError
from avemotion.features.record import ClipFeatures
from avemotion.inference.predict import Predictor
from avemotion.training.run_setup import compare_setup, run_hash
from avemotion.training.toy import make_toy_store
from avemotion.training.trainer import run_training
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)

#: a face row of 10 columns in three groups, as the face extractor names its own (geometry, expression, cnn_probs)
GROUPS = {"geometry": (0, 2), "expression": (2, 6), "cnn_probs": (6, 13)}
WIDTH = 13


def _clip(i: int, rng: np.random.Generator, groups: dict = GROUPS) -> ClipFeatures:
    vid = rng.normal(size=(9, WIDTH)).astype(np.float32)
    vid[:, 6:13] = rng.dirichlet(np.ones(7), size=9)  # CNN probabilities
    return ClipFeatures(f"c{i}", None, None, vid, np.ones(9, bool), video_groups=dict(groups))


def test_default_selects_every_column_as_before() -> None:
    rng = np.random.default_rng(0)
    clips = [_clip(i, rng) for i in range(3)]
    labels = ["anger", "happiness", "sadness"]
    every = FeatureSelection.fit(clips, "video", [], labels=labels)
    assert Config().video.groups is None and every.video_cols is None and every.dims.video == WIDTH
    assert np.array_equal(every.apply(clips[0]).video_seq, clips[0].video_seq)


def test_kept_groups_give_their_columns_and_the_prior_stays() -> None:
    rng = np.random.default_rng(1)
    clips = [_clip(i, rng) for i in range(3)]
    labels = ["anger", "happiness", "sadness"]
    every = FeatureSelection.fit(clips, "video", [], labels=labels)
    # asked out of order and in other case: kept in the row's order
    sel = FeatureSelection.fit(clips, "video", [], labels=labels, video_groups=["Expression", "geometry"])
    assert sel.video_groups == ["geometry", "expression"] and sel.dims.video == 6
    got, ref = sel.apply(clips[1]), every.apply(clips[1])
    np.testing.assert_array_equal(got.video_seq, clips[1].video_seq[:, :6])
    # the expression CNN's prior comes from the raw row, whether or not its probabilities are a kept group
    assert got.expression_prior is not None and np.allclose(got.expression_prior, ref.expression_prior)
    back = FeatureSelection.from_dict(json.loads(json.dumps(sel.to_dict())))
    assert back.dims == sel.dims and np.array_equal(back.apply(clips[1]).video_seq, got.video_seq)
    # a clip whose row lays the same groups out elsewhere: found by name
    moved = {"cnn_probs": (0, 7), "geometry": (7, 9), "expression": (9, 13)}
    other = _clip(9, rng, moved)
    other.video_seq[:, 0:7] = clips[1].video_seq[:, 6:13]
    other.video_seq[:, 7:13] = clips[1].video_seq[:, 0:6]
    np.testing.assert_array_equal(sel.apply(other).video_seq, got.video_seq)


def test_unknown_group_names_what_the_store_has() -> None:
    clips = [_clip(i, np.random.default_rng(i)) for i in range(2)]
    with pytest.raises(AvemotionError, match="'mouth'.*its video groups are: geometry, expression, cnn_probs"):
        FeatureSelection.fit(clips, "video", [], video_groups=["expression", "mouth"])
    bare = [dataclasses.replace(c, video_groups={}) for c in clips]
    with pytest.raises(AvemotionError, match="name no groups"):
        FeatureSelection.fit(bare, "video", [], video_groups=["expression"])
    assert FeatureSelection.fit(clips, "video", [], video_groups=None).dims.video == WIDTH


@pytest.mark.parametrize("bad", [[], [""], ["expression", "EXPRESSION"]])
def test_config_refuses_an_empty_or_repeated_list(bad: list[str]) -> None:
    with pytest.raises(ConfigError):
        Config().with_overrides({"video.groups": bad})


def test_a_selection_keeps_the_store_and_changes_the_run() -> None:
    """Stores hold every group: choosing some is the same store, another run; unset, every hash is as before
    (test_config_schema.py pins those)."""

    class _Store:
        meta = {"config_hash": "abc"}
        labels = ["a", "b"]

    base, chosen = Config(), Config().with_overrides(["video.groups=[expression,cnn_probs]"])
    assert chosen.video.groups == ["expression", "cnn_probs"]
    assert config_hash(chosen) == config_hash(base)
    assert run_hash(chosen, "bimodal", _Store()) != run_hash(base, "bimodal", _Store())
    assert compare_setup(_Store(), ["a"], ["c"], chosen) != compare_setup(_Store(), ["a"], ["c"], base)
    assert Config.from_dict(chosen.to_dict(), saved=True) == chosen


@pytest.fixture(scope="module")
def grouped_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy store with its 10 video columns in two named groups: "cue" (0:4, the class signal) and "rest"."""
    root = tmp_path_factory.mktemp("grouped") / "features"
    toy = make_toy_store(root.parent / "toy", n_clips=48, n_speakers=6, signal=2.0)
    records, feats = toy.load_all()
    meta = {**toy.meta, "config_hash": "grouped"}
    store = FeatureStore.create(root, meta, records, [f"k{i:04d}" for i in range(len(records))])
    for i, f in enumerate(feats):
        groups = {"cue": (0, 4), "rest": (4, 10)} if f.video_seq is not None else {}
        store.put(f"k{i:04d}", dataclasses.replace(f, video_groups=groups))
    return root


def _video_cfg() -> Config:
    return tiny_config(**{"train.folds": 2, "train.epochs": 2, "train.inner_folds": 0, "train.modality": "video",
                          "video.groups": ["cue"]})


def test_training_and_prediction_use_the_chosen_groups(grouped_store: Path, tmp_path: Path) -> None:
    run = run_training(grouped_store, tmp_path / "run", _video_cfg())
    record = json.loads((run.rundir / "run.json").read_text())
    assert record["dims"]["video"] == 4 and record["selection"]["video_groups"] == ["cue"]
    predictor = Predictor.load(run.rundir)
    assert predictor.bundle.selection.dims.video == 4
    _, feats = FeatureStore(grouped_store).load_all()
    clip = next(f for f in feats if f.video_seq is not None)
    pred = predictor.predict(clip)
    assert np.isclose(sum(pred.probabilities.values()), 1.0)
    wrong = dataclasses.replace(clip, video_groups={"rest": (0, 6), "other": (6, 10)})
    with pytest.raises(AvemotionError):  # the kept group is not in this row, and its columns cannot be guessed
        predictor.predict(dataclasses.replace(wrong, video_seq=wrong.video_seq[:, :3]))


def test_classical_baselines_use_the_chosen_groups(grouped_store: Path, tmp_path: Path) -> None:
    from avemotion.training.compare import run_compare

    run_compare(grouped_store, tmp_path / "cmp", _video_cfg(), ["logreg-video", "logreg"], groups=2,
                latency_clips=())
    for name in ("logreg-video", "logreg"):
        record = json.loads((tmp_path / "cmp" / "runs" / name / "run.json").read_text())
        assert record["dims"]["video"] == 4, name
