"""The hashes that name feature-store clips, store configs and run folders keep their values (existing
stores and run folders stay usable), and the one UA gives every former computation's value exactly."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from avemotion.config import Config, hash_view
from avemotion.data.extract import FEATURE_VERSION, WINDOW_KEYS, clip_key, config_hash, file_digest
from avemotion.data.manifest import ClipRecord
from avemotion.models.accuracy import unweighted_accuracies, unweighted_accuracy
from avemotion.training.metrics import compute_metrics
from avemotion.utils.hashing import json_digest


@pytest.mark.parametrize("speed_views", [[], [0.9, 1.1]])
def test_config_hash_is_the_sha1_of_the_sorted_json(speed_views: list[float]) -> None:
    config = Config().with_overrides({"audio.speed_views": speed_views})
    view = hash_view(config)  # (its values are pinned in test_config_schema.py)
    assert ("speed_views" in view["audio"]) == bool(speed_views)  # none: left out, as before they existed
    payload = {"audio": view["audio"], "video": view["video"], "feature_version": FEATURE_VERSION}
    expected = hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    assert config_hash(config) == expected


def test_clip_key_hashes_content_and_window_as_before(tmp_path: Path) -> None:
    media = tmp_path / "a.wav"
    media.write_bytes(b"RIFF-some-bytes")
    record = ClipRecord("c1", "joy", "s1", str(media), None, {"start": 1.5, "end": "2"})
    reference = hashlib.sha1(b"cfg")
    for p in (record.video_path, record.audio_path):
        reference.update(b"|")
        if p:
            reference.update(file_digest(p).encode())
    for k in WINDOW_KEYS:
        reference.update(f"|{record.extra.get(k)}".encode())
    assert clip_key(record, "cfg") == reference.hexdigest()[:20]
    gone = ClipRecord("c2", "joy", "s1", None, str(tmp_path / "missing.mp4"))
    assert clip_key(gone, "cfg") != clip_key(record, "cfg")


def test_json_digest_is_sha256_of_the_sorted_json() -> None:
    record = {"b": [1, 2.5, None], "a": {"z": "ü", "y": True}}
    assert json_digest(record) == hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    assert json_digest({"p": Path("/x")}) == json_digest({"p": "/x"})  # not JSON: its str


@pytest.mark.parametrize("seed", range(30))
def test_one_ua_equals_every_former_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(1, 9)), int(rng.integers(1, 60))
    y = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < 0.5, y, rng.integers(0, k + 1, n))  # classes absent from y predicted too
    ua = unweighted_accuracy(y, pred)
    classes = np.unique(y)
    assert ua == float(np.mean([(pred[y == c] == c).mean() for c in classes]))  # the read-outs' former
    with warnings.catch_warnings():  # scikit-learn warns of predicted classes absent from y
        warnings.simplefilter("ignore")
        assert ua == float(balanced_accuracy_score(y, pred))  # the classical baselines' former
    assert ua == compute_metrics(y, pred, None, [str(i) for i in range(k + 1)], None)["ua"]
    correct = np.stack([pred == y, rng.random(n) < 0.5, pred == y])
    rows = unweighted_accuracies(correct, y)
    assert rows[0] == ua and rows[2] == ua


def test_ua_without_clips_is_zero() -> None:
    assert unweighted_accuracy(np.zeros(0, np.int64), np.zeros(0, np.int64)) == 0.0
    empty = unweighted_accuracies(np.zeros((2, 3), bool), np.arange(3), np.zeros(3, bool))
    assert empty.tolist() == [0.0, 0.0]

