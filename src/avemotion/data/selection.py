"""Which feature columns a model uses: :class:`FeatureSelection`, fitted on a store and saved with the model.

- It keeps the columns of the audio feature groups named in ``config.audio.extractors`` (ablations drop
  "mfcc" / "opensmile" / "soundnet"): a stored group counts as an extractor's when the extractor declares it
  (:func:`avemotion.features.audio.declared_groups`), see :func:`group_family`.
- It keeps the columns of the video feature groups named in ``config.video.groups`` (None: all; the face
  row's groups are geometry, pose, expression, cnn_probs, cnn_embedding, motion), by their stored names.
- It drops a modality for ``--modality audio|video``, and keeps the audio speed views named in
  ``config.audio.speed_views`` (``ClipFeatures.audio_views``). Batches hold plain clips only: the views are
  predicted by ``predict_clips``.
- With the model's labels it carries the expression CNN's prior over them
  (:mod:`avemotion.data.expression_prior`).
- It finds the kept groups by name in each clip's own column layout, so a model trained on a store of more
  extractors predicts from features extracted with only the ones it uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from avemotion.data.dims import FeatureDims
from avemotion.data.expression_prior import clip_prior, prior_columns, prior_matrix
from avemotion.errors import AvemotionError
from avemotion.features.audio import declared_groups
from avemotion.features.record import AudioView, ClipFeatures, Groups
from avemotion.modality import MODALITIES
from avemotion.utils.progress import warn

#: (store, missing speeds) already warned about
_WARNED: set[tuple[object, str]] = set()
#: characters that end a word of a feature-group name ("mfcc_stats": the group "mfcc" with a suffix)
_SEPARATORS = "_:./- "


def group_family(name: str) -> str:
    """The audio extractor a stored feature group belongs to: the registered extractor that declares the group
    (:func:`~avemotion.features.audio.declared_groups`: "mfcc" -> "mfcc", the openSMILE set "IS09" ->
    "opensmile").

    Fallback, for group names of stores written by older code and by tests, which no extractor declares: a
    declared name followed by a separator and a suffix belongs to its extractor ("mfcc_stats" -> "mfcc",
    "soundnet_conv7" -> "soundnet", "IS13_lld" -> "opensmile"); any other name is its own first word,
    lower-case ("face" -> "face"). Group names are what a store holds: they are never rewritten.
    """
    owners = declared_groups()
    key = name.strip().lower()
    if key in owners:
        return owners[key]
    # the longest declared name that starts the group's name
    for group in sorted(owners, key=len, reverse=True):
        if key.startswith(group) and len(key) > len(group) and key[len(group)] in _SEPARATORS:
            return owners[group]
    return next((key[:i] for i, ch in enumerate(key) if ch in _SEPARATORS), key)


def _keep_columns(groups: Groups, width: int, keep: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Column indices of the groups whose name or family is in ``keep`` (all columns when no groups are
    known)."""
    if not groups:
        return np.arange(width), []
    wanted = {k.lower() for k in keep}
    cols: list[np.ndarray] = []
    kept: list[str] = []
    for name, (start, stop) in sorted(groups.items(), key=lambda kv: kv[1][0]):
        if name.lower() in wanted or group_family(name) in wanted:
            cols.append(np.arange(start, stop))
            kept.append(name)
    return (np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)), kept


@dataclass
class FeatureSelection:
    """Which modalities and which feature columns a model uses; fitted on a store, saved with the model."""

    modality: str
    audio_seq_cols: np.ndarray | None  # None: the model does not use this input
    audio_vec_cols: np.ndarray | None
    use_video: bool
    video_width: int
    audio_seq_groups: list[str] = field(default_factory=list)
    audio_vec_groups: list[str] = field(default_factory=list)
    prior_cols: np.ndarray | None = None  # the expression CNN's probabilities in the raw video features
    prior_map: np.ndarray | None = None  # (7, C) CNN classes -> the model's labels
    #: widths of the kept clip-vector groups, in order
    audio_vec_sizes: list[int] = field(default_factory=list)
    speeds: list[float] = field(default_factory=list)  # audio views kept (prediction averages over them)
    #: the kept video groups (``video.groups``) and their columns in the raw video row; None: every column
    video_groups: list[str] = field(default_factory=list)
    video_cols: np.ndarray | None = None

    @classmethod
    def fit(cls, features: Sequence[ClipFeatures], modality: str, extractors: Sequence[str],
            source: object = None, labels: Sequence[str] | None = None,
            speeds: Sequence[float] = (), video_groups: Sequence[str] | None = None) -> FeatureSelection:
        """``labels``: the model's classes; with them, clips carry the expression CNN's prior over them.
        ``speeds``: the audio views (``audio.speed_views``) to keep; a speed no stored clip has is dropped
        with a warning (a store extracted without it). ``video_groups``: the stored video groups to keep
        (``video.groups``; None: all), each by its exact name (case aside)."""
        if modality not in MODALITIES:
            raise AvemotionError(f"modality must be one of {', '.join(MODALITIES)}, not {modality!r}")
        seq_ref = next((f for f in features if f.audio_seq is not None), None)
        vec_ref = next((f for f in features if f.audio_vec is not None), None)
        vid_ref = next((f for f in features if f.video_seq is not None), None)
        seq_cols = vec_cols = None
        seq_groups: list[str] = []
        vec_groups: list[str] = []
        if modality in ("av", "audio"):
            if seq_ref is None and vec_ref is None:
                raise AvemotionError(f"no clip has audio features; train with --modality video "
                                     f"(modality {modality!r} asked)", source)
            if seq_ref is not None:
                seq_cols, seq_groups = _keep_columns(seq_ref.audio_groups, seq_ref.audio_seq.shape[1],
                                                     extractors)
            if vec_ref is not None:
                vec_cols, vec_groups = _keep_columns(vec_ref.audio_vec_groups, vec_ref.audio_vec.shape[0],
                                                     extractors)
            if (seq_cols is None or seq_cols.size == 0) and (vec_cols is None or vec_cols.size == 0):
                known = sorted(set((seq_ref.audio_groups if seq_ref else {})
                                   | (vec_ref.audio_vec_groups if vec_ref else {})))
                raise AvemotionError(
                    f"audio.extractors={list(extractors)} selects no audio feature group; the store has: "
                    f"{', '.join(known)}", source)
            if seq_cols is not None and seq_cols.size == 0:
                seq_cols = None
            if vec_cols is not None and vec_cols.size == 0:
                vec_cols = None
        use_video = False
        width = 0
        if modality in ("av", "video"):
            if vid_ref is None:
                raise AvemotionError(f"no clip has video features; train with --modality audio "
                                     f"(modality {modality!r} asked)", source)
            use_video = True
            width = int(vid_ref.video_seq.shape[1])
        vid_cols = None
        vid_groups: list[str] = []
        if use_video and video_groups is not None:
            vid_cols, vid_groups = _video_columns(vid_ref.video_groups, width, video_groups, source)
        prior_cols = prior_map = None
        if use_video and labels is not None:
            prior_cols, prior_map = prior_columns(vid_ref.video_groups), prior_matrix(labels)
            if prior_cols is None or prior_map is None:
                prior_cols = prior_map = None
        sizes = []
        if vec_cols is not None and vec_ref is not None and vec_groups:
            sizes = [vec_ref.audio_vec_groups[g][1] - vec_ref.audio_vec_groups[g][0] for g in vec_groups]
            sizes = sizes if sum(sizes) == vec_cols.size else []
        kept: list[float] = []
        if seq_cols is not None or vec_cols is not None:
            stored = {s for f in features for s in f.audio_views}
            kept = [float(s) for s in speeds if s in stored]
            missing = ", ".join(f"{s:g}" for s in speeds if s not in stored)
            # once per store (compare fits one per variant)
            if missing and (str(source), missing) not in _WARNED:
                _WARNED.add((str(source), missing))
                used = "".join(f"the {s:g}x view, " for s in kept)
                warn(f"no clip of the store has the audio speed view(s) {missing}x (extracted with other "
                     f"audio.speed_views): predictions use {used}the plain clip only; extract again to add "
                     f"them")
        return cls(modality, seq_cols, vec_cols, use_video, width, seq_groups, vec_groups, prior_cols,
                   prior_map, sizes, kept, vid_groups, vid_cols)

    @property
    def dims(self) -> FeatureDims:
        return FeatureDims(
            0 if self.audio_seq_cols is None else int(self.audio_seq_cols.size),
            0 if self.audio_vec_cols is None else int(self.audio_vec_cols.size),
            (self.video_width if self.video_cols is None else int(self.video_cols.size)) if self.use_video else 0,
            tuple(self.audio_vec_sizes) if self.audio_vec_cols is not None else (),
        )

    def apply(self, f: ClipFeatures) -> ClipFeatures:
        """The selected part of one clip (a modality the model does not use, or that is absent, is None), with
        the kept audio views selected alike."""
        seq, vec = self._audio(f, f.audio_seq, f.audio_vec)
        views = {s: AudioView(*self._audio(f, v.audio_seq, v.audio_vec))
                 for s, v in f.audio_views.items() if s in self.speeds}
        vid = mask = None
        if self.use_video and f.has_video:
            if f.video_seq.shape[1] != self.video_width:
                raise AvemotionError(f"{f.clip_id}: video features have {f.video_seq.shape[1]} columns, "
                                     f"the model expects {self.video_width} (extracted with another config?)")
            vid = np.asarray(f.video_seq, dtype=np.float32)
            mask = np.asarray(f.video_mask, dtype=bool)
        prior = None
        if vid is not None and self.prior_cols is not None and self.prior_map is not None:
            prior = clip_prior(vid, mask, self.prior_cols, self.prior_map)  # (from the raw row: every group)
        if vid is not None and self.video_cols is not None:
            vid = _take(vid, _by_name(f.video_groups, self.video_groups, self.video_cols), f.clip_id, "video_seq")
        return ClipFeatures(f.clip_id, seq, vec, vid, mask, meta=f.meta, audio_views=views,
                            expression_prior=prior)

    def _audio(self, f: ClipFeatures, seq: np.ndarray | None,
               vec: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The kept columns of a clip's audio sequence and clip vector (those of ``f`` or of one of its
        views)."""
        out_seq = out_vec = None
        if self.audio_seq_cols is not None and seq is not None:
            cols = _by_name(f.audio_groups, self.audio_seq_groups, self.audio_seq_cols)
            out_seq = _take(seq, cols, f.clip_id, "audio_seq")
        if self.audio_vec_cols is not None and vec is not None:
            cols = _by_name(f.audio_vec_groups, self.audio_vec_groups, self.audio_vec_cols)
            out_vec = _take(vec[None, :], cols, f.clip_id, "audio_vec")[0]
        return out_seq, out_vec

    def to_dict(self) -> dict:
        return {
            "modality": self.modality,
            "audio_seq_cols": _ranges(self.audio_seq_cols),
            "audio_vec_cols": _ranges(self.audio_vec_cols),
            "use_video": self.use_video,
            "video_width": self.video_width,
            "audio_seq_groups": self.audio_seq_groups,
            "audio_vec_groups": self.audio_vec_groups,
            "prior_cols": _ranges(self.prior_cols),
            "prior_map": None if self.prior_map is None else self.prior_map.tolist(),
            "audio_vec_sizes": self.audio_vec_sizes,
            "speeds": self.speeds,
            "video_groups": self.video_groups,
            "video_cols": _ranges(self.video_cols),
        }

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSelection:
        return cls(d["modality"], _unranges(d["audio_seq_cols"]), _unranges(d["audio_vec_cols"]),
                   bool(d["use_video"]), int(d["video_width"]), list(d.get("audio_seq_groups", [])),
                   list(d.get("audio_vec_groups", [])), _unranges(d.get("prior_cols")),
                   None if d.get("prior_map") is None else np.asarray(d["prior_map"], np.float32),
                   [int(x) for x in d.get("audio_vec_sizes", [])], [float(s) for s in d.get("speeds", [])],
                   list(d.get("video_groups", [])), _unranges(d.get("video_cols")))


def _video_columns(groups: Groups, width: int, wanted: Sequence[str],
                   source: object) -> tuple[np.ndarray, list[str]]:
    """The columns of the video groups named in ``wanted`` (``video.groups``), in the row's order; an error that
    lists the stored names when one is not stored."""
    if not groups:
        raise AvemotionError(f"video.groups={list(wanted)} asked, but the store's video features name no groups "
                             "(extracted by older code?): extract again, or leave video.groups unset", source)
    stored = {name.lower(): name for name in groups}
    unknown = [g for g in wanted if g.strip().lower() not in stored]
    if unknown:
        raise AvemotionError(f"video.groups names {', '.join(map(repr, unknown))}, which the store does not hold; "
                             f"its video groups are: {', '.join(groups)}", source)
    keep = {stored[g.strip().lower()] for g in wanted}
    names = [n for n, _ in sorted(groups.items(), key=lambda kv: kv[1][0]) if n in keep]
    cols = np.concatenate([np.arange(*groups[n]) for n in names])
    if cols.size and int(cols.max()) >= width:
        raise AvemotionError(f"the store's video groups reach column {int(cols.max())}, its rows have {width}",
                             source)
    return cols, names


def _by_name(clip_groups: Groups, kept: list[str], cols: np.ndarray) -> np.ndarray:
    """The kept groups' columns in this clip's own layout. A model trained on a store holding more
    extractors than it uses (e.g. all four, of which it keeps Whisper) sees, at prediction, features extracted
    with only the ones it uses: the same groups at other positions. Falls back to the stored indices when the
    clip's layout does not name every kept group with the trained width."""
    if not kept or not all(g in clip_groups for g in kept):
        return cols
    mine = np.concatenate([np.arange(*clip_groups[g]) for g in kept])
    return mine if mine.size == cols.size else cols


def _take(arr: np.ndarray, cols: np.ndarray, clip_id: str, name: str) -> np.ndarray:
    if cols.size and int(cols.max()) >= arr.shape[1]:
        raise AvemotionError(f"{clip_id}: {name} has {arr.shape[1]} columns, the model expects at least "
                             f"{int(cols.max()) + 1} (extracted with another config?)")
    if cols.size == arr.shape[1] and np.array_equal(cols, np.arange(arr.shape[1])):
        return np.asarray(arr, dtype=np.float32)
    return np.ascontiguousarray(arr[:, cols], dtype=np.float32)


def _ranges(cols: np.ndarray | None) -> list[list[int]] | None:
    """Column indices as [start, stop) runs (compact JSON for 12k columns)."""
    if cols is None:
        return None
    runs: list[list[int]] = []
    for c in cols.tolist():
        if runs and runs[-1][1] == c:
            runs[-1][1] = c + 1
        else:
            runs.append([c, c + 1])
    return runs


def _unranges(runs: list[list[int]] | None) -> np.ndarray | None:
    if runs is None:
        return None
    return np.concatenate([np.arange(a, b) for a, b in runs]) if runs else np.zeros(0, dtype=np.int64)

