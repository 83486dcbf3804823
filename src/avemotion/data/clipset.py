"""The in-memory corpus a model trains on: every clip's selected raw features with labels, groups and ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avemotion.data.manifest import ClipRecord
from avemotion.data.selection import FeatureSelection
from avemotion.errors import AvemotionError
from avemotion.features.record import ClipFeatures


@dataclass
class ClipSet:
    """Selected raw features of a corpus in memory, in store order."""

    features: list[ClipFeatures]
    labels: np.ndarray  # (N,) int
    clip_ids: list[str]
    speakers: list[str | None]
    label_names: list[str]

    def __len__(self) -> int:
        return len(self.features)

    def subset(self, idx: Sequence[int]) -> list[ClipFeatures]:
        return [self.features[i] for i in idx]

    @classmethod
    def build(cls, records: Sequence[ClipRecord], features: Sequence[ClipFeatures],
              selection: FeatureSelection, label_names: Sequence[str], source: object = None,
              group_by: str = "speaker") -> ClipSet:
        """``group_by``: the record field that keeps clips together in splits ("speaker", or an ``extra`` key
        such as IEMOCAP's "session" for leave-one-session-out)."""
        index = {name: i for i, name in enumerate(label_names)}
        feats, labels, ids, speakers = [], [], [], []
        for rec, f in zip(records, features, strict=True):
            if rec.label not in index:
                raise AvemotionError(f"clip {rec.clip_id}: label {rec.label!r} is not in the store's labels "
                                     f"({', '.join(label_names)})", source)
            sel = selection.apply(f)
            if not (sel.audio_seq is not None or sel.audio_vec is not None or sel.video_seq is not None):
                continue  # nothing this model can use (e.g. a faceless clip in a video-only run)
            feats.append(sel)
            labels.append(index[rec.label])
            ids.append(rec.clip_id)
            group = rec.speaker if group_by == "speaker" else (str(rec.extra.get(group_by) or "") or None)
            speakers.append(group)
        if not feats:
            raise AvemotionError(f"no clip has the {selection.modality!r} features this run needs", source)
        return cls(feats, np.asarray(labels, dtype=np.int64), ids, speakers, list(label_names))
