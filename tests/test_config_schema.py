"""The config's layout: every extractor owns a section of its name, older layouts migrate (YAML files, --set
keys, saved models, run folders, store metadata), and the hashes that name stores and runs are those of the
layout-1 code (values pinned from commit c1ec168)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import avemotion
from avemotion.config import SCHEMA_VERSION, AudioConfig, Config, VideoConfig, hash_view, load_config, migrate
from avemotion.data.extract import config_hash
from avemotion.errors import ConfigError
from avemotion.features import AUDIO_EXTRACTORS, VIDEO_EXTRACTORS
from avemotion.training.run_setup import run_hash, variant_run_hash
from avemotion.training.splits import Splits

OLD_YAML = Path(__file__).parent / "data" / "config_v1.yaml"
BUNDLED = Path(avemotion.__file__).parent / "pretrained" / "default" / "model.json"


class _Store:  # what the run hashes read of a feature store
    meta = {"config_hash": "abc"}
    labels = ["a", "b"]


def _hashes(config: Config) -> list[str]:
    splits = Splits("kfold", True, 0, [], [])
    return [config_hash(config), run_hash(config, "bimodal", _Store()),
            variant_run_hash("bimodal", {"x": 1}, config, _Store(), ["a"], splits, config.audio.speed_views)]


def test_every_extractor_owns_a_section_of_its_name() -> None:
    """A new extractor is its module plus its section: ``audio.<name>`` / ``video.<name>`` of its own type."""
    import avemotion.features.audio
    import avemotion.features.video.extractor  # noqa: F401

    for registry, branch in ((AUDIO_EXTRACTORS, AudioConfig), (VIDEO_EXTRACTORS, VideoConfig)):
        assert list(registry), registry.kind
        for name in registry:
            section = branch.subsections().get(name)
            assert section is not None, f"{registry.kind} {name!r} has no config section {name!r}"
            assert registry.get(name).config_type is section, name
        assert set(branch.subsections()) == set(registry)  # and no section without its extractor


def test_extractors_take_only_their_section() -> None:
    with pytest.raises(TypeError, match="MfccConfig"):
        AUDIO_EXTRACTORS.get("mfcc")(AudioConfig())


#: (config_hash, run_hash, variant_run_hash) computed by the layout-1 code (c1ec168) for the same settings
PINNED = {
    "default": ({}, ["5b24515e764f9edf", "1437be948b1c3341", "ea5391d9416a14a9"]),
    "paper": ({"audio.extractors": ["mfcc", "opensmile", "soundnet"]},
              ["f5fc4681ce54a414", "3d0e16b0e30fda6a", "455237fae886ea4b"]),
    "noviews": ({"audio.speed_views": []}, ["75486f756dc4a8b2", "be0ae1e5019df97f", "bca2b21428f8dab9"]),
    "ungrouped": ({"train.group_by": "none"}, ["5b24515e764f9edf", "fb740e338b470c55", "0e1363f6d062f4fd"]),
    "sections": ({"audio.soundnet.enabled": False, "audio.mfcc.n_mels": 30, "video.face.expression_cnn": False,
                  "audio.whisper.layers": [2, 3]}, ["90a8a3af20ff4a21", "1437be948b1c3341", "ea5391d9416a14a9"]),
}


#: the defaults that changed since layout 1, at their layout-1 values (schema.OLD_DEFAULTS)
LAYOUT_1_DEFAULTS = {"model.video_pool": 1, "model.head_calibration": "none", "model.face_share_weighting": False,
                     "model.dropout_masks": "torch"}


@pytest.mark.parametrize("case", sorted(PINNED))
def test_store_and_run_hashes_are_those_of_layout_1(case: str) -> None:
    overrides, expected = PINNED[case]
    assert _hashes(Config().with_overrides({**LAYOUT_1_DEFAULTS, **overrides})) == expected


def test_a_changed_default_changes_run_hashes_not_store_keys() -> None:
    """Today's defaults train another model than layout 1's (``model.video_pool``): a new run hash, the same
    feature store."""
    old, new = _hashes(Config().with_overrides(LAYOUT_1_DEFAULTS)), _hashes(Config())
    assert new[0] == old[0] and new[1] != old[1] and new[2] != old[2]
    assert hash_view(Config())["model"]["video_pool"] == Config().model.video_pool != 1


def test_configs_written_before_keep_the_old_defaults() -> None:
    """A saved config (or a file stating its layout) from before layout 3 rebuilds the model it trained; a user's
    partial file without ``schema_version`` means today's defaults."""
    for data, saved in (({"model": {"dropout": 0.2}}, True), ({"schema_version": 2, "model": {}}, False)):
        assert Config.from_dict(data, saved=saved).model.video_pool == 1
        assert Config.from_dict(data, saved=saved).model.head_calibration == "none"
    assert Config.from_dict({"model": {"dropout": 0.2}}, saved=False).model.video_pool == Config().model.video_pool
    assert Config.from_dict(Config().to_dict(), saved=True) == Config()
    # written in layout 3: video_pool as written, the heads as trained then
    layout_3 = Config.from_dict({"schema_version": 3, "model": {"video_pool": 3}}, saved=True).model
    assert layout_3.video_pool == 3 and layout_3.head_calibration == "none"
    assert Config().model.head_calibration == "validation"
    assert Config.from_dict({"model": {"dropout": 0.2}}, saved=False).model.head_calibration == "validation"


def test_hash_view_has_the_layout_1_keys() -> None:
    """The view is frozen: a new setting must enter it without changing any existing hash."""
    view = hash_view(Config().with_overrides(LAYOUT_1_DEFAULTS))
    old = yaml.safe_load(OLD_YAML.read_text())
    for section in ("audio", "video", "model", "train"):
        assert set(view[section]) == set(old[section]), section
    assert "speed_views" not in hash_view(Config().with_overrides({"audio.speed_views": []}))["audio"]


def test_old_yaml_file_loads_and_keeps_its_hashes() -> None:
    """A run's config.yaml of layout 1 (no schema_version) loads with --config; its hashes are those the
    layout-1 code gave it, so its run folder resumes."""
    c = load_config(OLD_YAML)
    assert c.audio.mfcc.n_mels == 30 and c.audio.soundnet.enabled is False and c.audio.whisper.layers == [2, 3]
    assert c.audio.opensmile.sets == ["IS09"] and c.video.face.cnn_batch == 8 and c.model.beta == 0.5
    assert c.train.group_by == "none" and c.train.folds == 3
    assert config_hash(c) == "541363dc953c07e2" and run_hash(c, "bimodal", _Store()) == "a497a927159a9220"
    old = yaml.safe_load(OLD_YAML.read_text())
    view = hash_view(c)
    for section in ("audio", "video", "model", "train"):  # the migration loses nothing
        assert view[section] == old[section], section


def test_partial_old_file_takes_defaults(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("audio:\n  n_mels: 20\n  soundnet_trainable: true\ntrain:\n  group_by_speaker: false\n")
    c = load_config(path)
    assert c.audio.mfcc.n_mels == 20 and c.train.group_by == "none"
    assert c.model.linear_readout == "select" and c.audio.speed_views == [0.9, 1.1]  # today's defaults, not v0's
    base = Config().with_overrides({"audio.mfcc.n_mfcc": 20, "audio.extractors": ["mfcc"]})
    merged = Config.from_yaml(path, base)  # subsections merge key by key
    assert merged.audio.mfcc.n_mels == 20 and merged.audio.mfcc.n_mfcc == 20 and merged.audio.extractors == ["mfcc"]


def test_old_override_keys_set_their_new_ones() -> None:
    c = Config().with_overrides(["audio.n_mels=30", "audio.soundnet=false", "video.cnn_batch=8",
                                 "audio.whisper_layers=[3]", "train.group_by_speaker=false"])
    assert c.audio.mfcc.n_mels == 30 and c.audio.soundnet.enabled is False and c.video.face.cnn_batch == 8
    assert c.audio.whisper.layers == [3] and c.train.group_by == "none"
    assert Config().with_overrides(["train.group_by_speaker=true"]) == Config()  # it only repeated group_by
    with pytest.raises(ConfigError, match="soundnet_trainable was removed"):
        Config().with_overrides(["audio.soundnet_trainable=true"])
    with pytest.raises(ConfigError, match="audio.mfcc.n_mel"):
        Config().with_overrides(["audio.mfcc.n_mel=3"])


def test_saved_config_round_trip_carries_the_version(tmp_path: Path) -> None:
    c = Config().with_overrides({"audio.mfcc.n_mels": 30, "train.group_by": "none"})
    data = c.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION and Config.from_dict(data, saved=True) == c
    assert Config.from_yaml(c.save(tmp_path / "c.yaml")) == c
    with pytest.raises(ConfigError, match="schema_version 99"):
        Config.from_dict({**data, "schema_version": 99})


def test_layout_0_gets_what_rebuilds_it() -> None:
    """Saved before read-outs and speed views existed: none of either (what LEGACY_DEFAULTS did)."""
    saved = json.loads(BUNDLED.read_text())["meta"]["config"]
    assert "schema_version" not in saved and "speed_views" not in saved["audio"]
    c = Config.from_dict(saved, saved=True)
    assert c.model.linear_readout == "none" and c.audio.speed_views == []
    assert c.audio.extractors == ["whisper"] and c.label_set == "basic7"
    view = hash_view(c)
    for section in ("audio", "video", "model", "train"):  # (training settings added later take their defaults)
        assert {k: view[section][k] for k in saved[section]} == saved[section], section


def test_store_meta_config_migrates(tmp_path: Path) -> None:
    """A store's metadata holds its extraction config (audio and video sections) in the layout it was written in;
    opened, the store shows it in the current one."""
    from avemotion.data.store import FeatureStore

    old = yaml.safe_load(OLD_YAML.read_text())
    (tmp_path / "store.json").write_text(json.dumps({"version": 1, "labels": ["a"], "config_hash": "x",
                                                     "config": {"audio": old["audio"], "video": old["video"]}}))
    current = FeatureStore(tmp_path).meta["config"]
    assert current["schema_version"] == SCHEMA_VERSION and current["audio"]["mfcc"]["n_mels"] == 30
    assert current["video"]["face"]["cnn_batch"] == 8 and "soundnet_trainable" not in current["audio"]
    assert migrate(current) == current
    assert Config.from_dict(current).audio == load_config(OLD_YAML).audio


def test_bundled_model_saved_again_in_the_current_layout_predicts_the_same(tmp_path: Path) -> None:
    from avemotion.features.record import ClipFeatures
    from avemotion.models.bundle import ModelBundle
    from avemotion.models.predict import predict_clips

    old = ModelBundle.load(BUNDLED.with_suffix(""))
    path = old.save(tmp_path / "model")
    assert json.loads(path.read_text())["meta"]["config"]["schema_version"] == SCHEMA_VERSION
    new = ModelBundle.load(tmp_path / "model")
    assert new.config == old.config and new.config.model.linear_readout == "none"
    dims, rng = old.dims, np.random.default_rng(0)
    clips = [ClipFeatures(f"c{i}", rng.normal(size=(20, dims.audio_seq)).astype(np.float32) if dims.audio_seq else None,
                          rng.normal(size=dims.audio_vec).astype(np.float32) if dims.audio_vec else None,
                          rng.normal(size=(25, dims.video)).astype(np.float32) if dims.video else None,
                          np.ones(25, dtype=bool) if dims.video else None) for i in range(4)]
    a = predict_clips(old.model, clips, dims, old.standardizer)
    b = predict_clips(new.model, clips, dims, new.standardizer)
    np.testing.assert_array_equal(a.probs, b.probs)


def _as_layout_1(config: Config) -> dict:
    """``config`` as the layout-1 code saved it (its hash view is exactly that, less the empty speed views)."""
    view = hash_view(config)
    view["audio"].setdefault("speed_views", config.audio.speed_views)
    return {"label_set": config.label_set, **view}


def test_run_folder_of_layout_1_predicts_and_resumes(tmp_path: Path) -> None:
    """A run folder written before schema_version: its model loads and predicts as before, and training again
    into it with its own config.yaml resumes (same run hash) instead of refusing."""
    from model_helpers import TINY

    from avemotion.inference.predict import Predictor
    from avemotion.training.run_setup import holds_other_run
    from avemotion.training.toy import make_toy_store
    from avemotion.training.trainer import run_training

    store = make_toy_store(tmp_path / "toy", n_clips=32, n_speakers=4).root
    config = Config().with_overrides({**TINY, "train.folds": 2, "train.epochs": 1, "train.inner_folds": 0,
                                      "train.refit": False, "train.group_by": "none"})
    rundir = tmp_path / "run"
    first = run_training(store, rundir, config)
    before = Predictor.load(rundir)
    model_json = rundir / "model.json"
    saved = json.loads(model_json.read_text())
    saved["meta"]["config"] = _as_layout_1(config)
    model_json.write_text(json.dumps(saved))
    (rundir / "config.yaml").write_text(yaml.safe_dump(_as_layout_1(config), sort_keys=False))
    after = Predictor.load(rundir)
    assert after.config == before.config == config
    old = load_config(rundir / "config.yaml")
    assert old == config and not holds_other_run(rundir, store, old)
    again = run_training(store, rundir, old)
    assert again.metrics["ua"] == first.metrics["ua"]


def test_group_by_none_makes_the_ungrouped_folds_of_group_by_speaker_false() -> None:
    from avemotion.config import TrainConfig
    from avemotion.training.splits import make_splits

    ids = [f"c{i}" for i in range(40)]
    labels = np.arange(40) % 2
    speakers = [f"s{i % 8}" for i in range(40)]
    grouped = make_splits(ids, labels, speakers, TrainConfig(folds=4))
    flat = make_splits(ids, labels, speakers, TrainConfig(folds=4, group_by="none"))
    assert grouped.grouped and not flat.grouped
    for fold in flat.folds:  # k-fold without groups: speakers fall on both sides
        assert {int(c[1:]) % 8 for c in fold.test} & {int(c[1:]) % 8 for c in fold.train}
    migrated = Config.from_dict({"train": {"folds": 4, "group_by_speaker": False}}).train
    assert make_splits(ids, labels, speakers, migrated).to_dict() == flat.to_dict()
