from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avemotion.data.manifest import ClipRecord
from avemotion.data.store import FeatureStore, StoreError
from avemotion.features.record import ClipFeatures


def _features(clip_id: str, rng: np.random.Generator, video: bool = True) -> ClipFeatures:
    t = 12
    return ClipFeatures(
        clip_id=clip_id,
        audio_seq=rng.normal(size=(20, 7)).astype(np.float32),
        audio_vec=rng.normal(size=(30,)).astype(np.float32),
        video_seq=rng.normal(size=(t, 5)).astype(np.float32) if video else None,
        video_mask=(np.arange(t) % 4 != 0) if video else None,
        audio_groups={"mfcc": (0, 3), "soundnet": (3, 7)},
        meta={"duration": 1.5},
    )


def test_clip_features_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    f = _features("a", rng)
    f.save(tmp_path / "a.npz")
    g = ClipFeatures.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(f.audio_seq, g.audio_seq)
    np.testing.assert_array_equal(f.video_mask, g.video_mask)
    assert g.audio_groups == {"mfcc": (0, 3), "soundnet": (3, 7)} and g.meta == {"duration": 1.5}
    assert g.has_audio and g.has_video
    audio_only = _features("b", rng, video=False)
    audio_only.save(tmp_path / "b.npz")
    assert not ClipFeatures.load(tmp_path / "b.npz").has_video


def test_nan_features_rejected(tmp_path: Path) -> None:
    f = _features("a", np.random.default_rng(0))
    f.audio_vec[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        f.validate()


def test_store_done_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    records = [ClipRecord(f"c{i}", "joy" if i % 2 else "anger", f"s{i % 3}", f"/x/c{i}.mp4", f"/x/c{i}.mp4")
               for i in range(5)]
    keys = [f"k{i}" for i in range(5)]
    store = FeatureStore.create(tmp_path, {"labels": ["anger", "joy"], "config_hash": "h"}, records, keys)
    with pytest.raises(StoreError, match="no extracted clips"):
        store.load_all()
    for i in (0, 2, 3):
        store.put(keys[i], _features(records[i].clip_id, rng))
    reopened = FeatureStore(tmp_path)
    recs, feats = reopened.load_all()
    assert [r.clip_id for r in recs] == ["c0", "c2", "c3"]
    assert [f.clip_id for f in feats] == ["c0", "c2", "c3"]
    assert reopened.labels == ["anger", "joy"] and recs[0].speaker == "s0" and recs[0].modality == "av"


def test_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="store.json"):
        FeatureStore(tmp_path)
