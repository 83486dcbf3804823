from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from avemotion.config import Config, load_config
from avemotion.errors import ConfigError

#: what the paper itself states (Liu, Feng & Li 2026), written here independently of avemotion.config
PAPER_VALUES = {
    "label_set": "paper9", "audio.mfcc.n_mels": 40, "audio.mfcc.frame_ms": 25.0, "audio.mfcc.hop_ms": 10.0,
    "audio.opensmile.sets": ["IS09", "IS11", "IS13"],
    "audio.soundnet.enabled": True, "model.name": "bimodal", "model.rnn_hidden": 128, "model.lstm_hidden": 256,
    "model.proj_dim": 128, "model.attn_dim": 64, "model.beta": 0.6, "model.chi": 0.4, "model.reconstruction": True,
    "model.cross_modal_attention": True, "model.decision_fusion": True, "model.rec_weight": 1.0,
    "model.fused_weight": 1.0,
    "train.split": "8:1:1", "train.folds": 5,
}


def _get(config: Config, dotted: str) -> object:
    node: object = config
    for key in dotted.split("."):
        node = getattr(node, key)
    return node


def test_paper_defaults() -> None:
    c = Config()
    provenance = Config.all_provenance()
    for key, value in PAPER_VALUES.items():
        assert _get(c, key) == value, key
        assert provenance[key] == "paper", key
    # every other default is ours and says so; where the paper states another value, the marking names it
    assert {k for k, v in provenance.items() if v == "paper"} == set(PAPER_VALUES)
    assert c.model.loss == "ce" and provenance["model.loss"].startswith("ours (paper: l1")
    assert c.audio.extractors == ["whisper"] and provenance["audio.extractors"].startswith(
        "ours (paper: mfcc + opensmile + soundnet")
    assert c.video.fps == 15.0 and provenance["video.fps"].startswith("ours (paper:")
    assert "30 fps" in provenance["video.fps"]
    assert c.train.split_ratios() == pytest.approx((0.8, 0.1, 0.1))
    sections = {f"{s}.{k}": v for s in ("audio", "video", "model", "train")
                for k, v in getattr(c, s).model_dump().items()}
    settings = {f"{k}.{sub}" for k, v in sections.items() if isinstance(v, dict) for sub in v}
    settings |= {k for k, v in sections.items() if not isinstance(v, dict)}
    assert set(provenance) == settings | {"label_set"}


def test_yaml_round_trip(tmp_path: Path) -> None:
    c = Config().with_overrides(["model.beta=0.5", "audio.opensmile.sets=[IS09]", "video.max_frames=100"])
    path = c.save(tmp_path / "config.yaml")
    loaded = Config.from_yaml(path)
    assert loaded == c
    assert loaded.model.beta == 0.5 and loaded.audio.opensmile.sets == ["IS09"] and loaded.video.max_frames == 100


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
        Config().with_overrides({"audio.mfcc.n_mels": 0})
    with pytest.raises(ConfigError, match="section.key=value"):
        Config().with_overrides(["model.beta"])


def test_command_defaults_sit_below_the_users_file_and_overrides(tmp_path: Path) -> None:
    """A command's own defaults (the demo's X^a) apply unless --config or --set gives the key."""
    import argparse

    from avemotion.cli.common import config_from_args

    defaults = {"audio.extractors": ["mfcc", "whisper"], "model.clip_vector_tokens": "per_group"}
    args = argparse.Namespace(config=None, overrides=None)
    c = config_from_args(args, defaults=defaults)
    assert c.audio.extractors == ["mfcc", "whisper"] and c.model.clip_vector_tokens == "per_group"
    path = tmp_path / "c.yaml"
    path.write_text("audio:\n  extractors: [opensmile]\nlabel_set: ravdess8\n")
    c = config_from_args(argparse.Namespace(config=path, overrides=["model.clip_vector_tokens=one"]), defaults=defaults)
    assert c.audio.extractors == ["opensmile"] and c.model.clip_vector_tokens == "one" and c.label_set == "ravdess8"
    assert c.audio.mfcc.n_mels == 40  # the rest of the section keeps its defaults
    assert Config.from_yaml(path).model.clip_vector_tokens == "one"  # without a base: the project's defaults
