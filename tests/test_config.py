from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from avemotion.config import Config, load_config
from avemotion.errors import ConfigError


def test_paper_defaults() -> None:
    c = Config()
    assert (c.audio.n_mels, c.audio.frame_ms, c.audio.hop_ms) == (40, 25.0, 10.0)
    assert (c.model.rnn_hidden, c.model.lstm_hidden, c.model.proj_dim, c.model.attn_dim) == (128, 256, 128, 64)
    assert (c.model.beta, c.model.chi) == (0.6, 0.4)
    assert c.train.split == "8:1:1" and c.train.split_ratios() == pytest.approx((0.8, 0.1, 0.1))
    assert c.train.folds == 5
    assert c.video.fps == 15.0
    assert c.audio.opensmile_sets == ["IS09", "IS11", "IS13"]
    assert c.label_set == "paper9"


def test_yaml_round_trip(tmp_path: Path) -> None:
    c = Config().with_overrides(["model.beta=0.5", "audio.opensmile_sets=[IS09]", "video.max_frames=100"])
    path = c.save(tmp_path / "config.yaml")
    loaded = Config.from_yaml(path)
    assert loaded == c
    assert loaded.model.beta == 0.5 and loaded.audio.opensmile_sets == ["IS09"] and loaded.video.max_frames == 100


def test_yaml_partial_file_then_override(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"model": {"chi": 0.2}, "train": {"folds": 10}}))
    c = load_config(path, ["train.folds=3"])
    assert c.model.chi == 0.2 and c.train.folds == 3 and c.model.beta == 0.6


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model.betta"):
        Config().with_overrides(["model.betta=0.5"])
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  unknown_thing: 3\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        Config.from_yaml(path)


def test_invalid_values_rejected() -> None:
    with pytest.raises(ConfigError, match="split"):
        Config().with_overrides({"train.split": "80-10-10"})
    with pytest.raises(ConfigError, match="n_mels"):
        Config().with_overrides({"audio.n_mels": 0})
    with pytest.raises(ConfigError, match="section.key=value"):
        Config().with_overrides(["model.beta"])
