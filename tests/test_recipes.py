"""Recipes of the bundled models: what they gather, and the card figures they compute."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from avemotion.cli.main import main
from avemotion.data.manifest import ClipRecord
from avemotion.errors import AvemotionError
from avemotion.labels import get_label_set
from avemotion.training.recipes import DEFAULT, card_metrics, gather, get_recipe


def test_default_recipe_config_is_valid() -> None:
    cfg = DEFAULT.config()
    assert cfg.label_set == "basic7" and cfg.audio.extractors == ["whisper"]
    assert cfg.model.video_prior == "zero_shot" and cfg.model.fused_weight == 0 and cfg.train.ensemble >= 1
    with pytest.raises(AvemotionError, match="unknown recipe"):
        get_recipe("nope")


def test_gather_on_the_shared_samples(shared_data: Path) -> None:
    records, used = gather(DEFAULT, shared_data)
    assert {r.extra["corpus"] for r in records} >= {"ravdess"}
    assert {r.label for r in records} <= set(get_label_set("basic7").labels)
    calm = [r for r in records if r.extra.get("native_label") == "calm"]
    assert calm and all(r.label == "neutral" for r in calm)
    assert len({r.clip_id for r in records}) == len(records) and used


def test_gather_without_data_says_so(tmp_path: Path) -> None:
    with pytest.raises(AvemotionError, match="no training data"):
        gather(DEFAULT, tmp_path)


def test_card_metrics_per_corpus_and_head(tmp_path: Path) -> None:
    labels = ["neutral", "happy", "sad"]
    (tmp_path / "metrics.json").write_text(json.dumps({
        "labels": labels, "n": 4, "wa": 0.5, "ua": 0.5, "per_fold_mean": {"ua": 0.5}, "per_fold_std": {"ua": 0.1}}))
    rows = [("a", "neutral", "neutral", "audio", "", ""), ("b", "happy", "sad", "audio", "", ""),
            ("c", "sad", "sad", "av", "happy", "sad"), ("d", "happy", "neutral", "av", "neutral", "happy")]
    with open(tmp_path / "predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["clip_id", "true", "pred", "modalities", "pred_audio", "pred_video"])
        w.writerows(rows)
    records = [ClipRecord("a", "neutral", extra={"corpus": "x"}), ClipRecord("b", "happy", extra={"corpus": "x"}),
               ClipRecord("c", "sad", extra={"corpus": "y"}), ClipRecord("d", "happy", extra={"corpus": "y"})]
    m = card_metrics(tmp_path, records)
    assert m["all"]["ua"] == 0.5 and m["x / audio"]["n"] == 2 and m["x / audio"]["wa"] == 0.5
    assert m["y / av"]["wa"] == 0.5
    assert m["audio-video clips, video head only"]["wa"] == 1.0  # c: sad ok, d: happy ok
    assert m["audio-video clips, audio head only"]["wa"] == 0.0


def test_train_recipe_refuses_features(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--recipe", "default", "--features", str(tmp_path)]) != 0
    assert "do not pass --features" in capsys.readouterr().err
