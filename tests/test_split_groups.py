"""Folds can keep a corpus field other than the speaker together (IEMOCAP: leave one session out)."""

from __future__ import annotations

import numpy as np

from avemotion.config import TrainConfig
from avemotion.data.clipset import ClipSet
from avemotion.data.manifest import ClipRecord
from avemotion.data.selection import FeatureSelection
from avemotion.features.record import ClipFeatures
from avemotion.training.splits import make_splits


def test_leave_one_session_out() -> None:
    rng = np.random.default_rng(0)
    records, feats = [], []
    for i in range(40):
        session = f"Ses0{i % 4 + 1}"
        records.append(ClipRecord(f"c{i}", ["neutral", "angry"][i % 2], f"{session}_{'FM'[i // 2 % 2]}",
                                  None, "x.wav", {"session": session}))
        feats.append(ClipFeatures(f"c{i}", audio_seq=rng.normal(size=(5, 3)).astype(np.float32),
                                  audio_vec=rng.normal(size=(4,)).astype(np.float32)))
    selection = FeatureSelection.fit(feats, "audio", ["mfcc", "opensmile", "soundnet"])
    clipset = ClipSet.build(records, feats, selection, ["neutral", "angry"], group_by="session")
    assert sorted(set(clipset.speakers)) == ["Ses01", "Ses02", "Ses03", "Ses04"]
    splits = make_splits(clipset.clip_ids, clipset.labels, clipset.speakers, TrainConfig(scheme="logo"))
    session_of = dict(zip(clipset.clip_ids, clipset.speakers, strict=True))
    assert len(splits.folds) == 4
    for fold in splits.folds:
        test_sessions = {session_of[c] for c in fold.test}
        assert len(test_sessions) == 1
        assert test_sessions.isdisjoint({session_of[c] for c in fold.train + fold.val})
