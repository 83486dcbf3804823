"""Speaker and recording normalisation (``train.normalize``).

``global`` (the default): features are only z-scored with the training clips' statistics (the
:class:`~avemotion.data.standardize.Standardizer` of each model). ``speaker``: every feature of a clip is first
z-normalised with the statistics of that speaker's own clips (all of them, test speakers included; no labels
are used), the standard practice of speaker-independent emotion recognition: it removes what a voice or a face
is like on average and keeps how it changes. ``recording``: the same per source recording (the windows of one
session, IEMOCAP's utterances of one dialog). Both assume that a speaker (a recording) shows several
emotions: the statistics of a speaker who is angry in every clip would remove the anger. A group with fewer
than ``MIN_CLIPS`` clips is left as it is (its statistics would be noise), and the global standardisation
applies as usual. The audio speed views of a group (``ClipFeatures.audio_views``) are normalised with the
statistics of the group's views of the same speed: a voice played 1.1x as fast has its own average.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from avemotion.data.clipset import ClipSet
from avemotion.data.dims import FeatureDims
from avemotion.data.manifest import ClipRecord
from avemotion.data.standardize import Standardizer
from avemotion.features.record import AudioView, ClipFeatures

NormalizeMode = Literal["global", "speaker", "recording"]
#: smallest group (clips of one speaker or recording) whose own statistics are used
MIN_CLIPS = 4


def recording_of(record: ClipRecord) -> str | None:
    """The source recording of a clip: an explicit ``recording`` field, else the video file (IEMOCAP's dialog),
    else the audio file."""
    explicit = record.extra.get("recording")
    return str(explicit) if explicit else (record.video_path or record.audio_path)


def group_keys(records: Sequence[ClipRecord], mode: NormalizeMode) -> list[str | None]:
    if mode == "speaker":
        return [r.speaker for r in records]
    if mode == "recording":
        return [recording_of(r) for r in records]
    return [None] * len(records)


def normalize_within(clip: ClipFeatures, stats: Standardizer) -> ClipFeatures:
    """``clip`` z-scored with one group's statistics (frames without a face stay zero)."""
    video = clip.video_seq
    if video is not None and clip.video_mask is not None:
        video = np.zeros_like(clip.video_seq)
        valid = np.asarray(clip.video_mask, bool)
        video[valid] = stats.transform("video", clip.video_seq[valid].astype(np.float32))
    return replace(
        clip,
        audio_seq=None if clip.audio_seq is None else stats.transform("audio_seq", clip.audio_seq.astype(np.float32)),
        audio_vec=None if clip.audio_vec is None else stats.transform("audio_vec", clip.audio_vec.astype(np.float32)),
        video_seq=video,
    )


def normalize_group(clips: Sequence[ClipFeatures], dims: FeatureDims) -> list[ClipFeatures]:
    """The clips of one group, each z-scored with the group's own statistics (unchanged under MIN_CLIPS); each
    speed's audio views with the statistics of the group's views of that speed."""
    if len(clips) < MIN_CLIPS:
        return list(clips)
    stats = Standardizer.fit(clips, dims, max_abs=np.inf)
    out = [normalize_within(c, stats) for c in clips]
    views: list[dict[float, AudioView]] = [dict(c.audio_views) for c in clips]
    for speed in dict.fromkeys(s for c in clips for s in c.audio_views):
        have = [i for i, c in enumerate(clips) if speed in c.audio_views]
        as_clips = [ClipFeatures(clips[i].clip_id, views[i][speed].audio_seq, views[i][speed].audio_vec) for i in have]
        if len(as_clips) < MIN_CLIPS:
            continue
        view_stats = Standardizer.fit(as_clips, dims, max_abs=np.inf)
        for i, v in zip(have, as_clips, strict=True):
            z = normalize_within(v, view_stats)
            views[i][speed] = AudioView(z.audio_seq, z.audio_vec)
    return [replace(c, audio_views=v) for c, v in zip(out, views, strict=True)]


def normalize_clips(clips: Sequence[ClipFeatures], keys: Sequence[str | None], dims: FeatureDims) -> tuple[
        list[ClipFeatures], int]:
    """Normalise every group of ``clips`` (same key) on its own; returns the clips and how many were left as
    they are (no key, or a group under MIN_CLIPS)."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        if key is not None:
            members[key].append(i)
    out = list(clips)
    done = 0
    for idx in members.values():
        if len(idx) < MIN_CLIPS:
            continue
        for i, c in zip(idx, normalize_group([clips[i] for i in idx], dims), strict=True):
            out[i] = c
        done += len(idx)
    return out, len(clips) - done


def normalize_clipset(clipset: ClipSet, records: Sequence[ClipRecord], mode: NormalizeMode,
                      dims: FeatureDims) -> tuple[ClipSet, int]:
    """The clip set with ``mode`` normalisation applied (``global``: unchanged); returns the number of clips
    left unnormalised."""
    if mode == "global":
        return clipset, 0
    by_id = {r.clip_id: r for r in records}
    keys = group_keys([by_id[c] for c in clipset.clip_ids], mode)
    feats, left = normalize_clips(clipset.features, keys, dims)
    return replace(clipset, features=feats), left
