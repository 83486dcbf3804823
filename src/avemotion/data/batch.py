"""From a FeatureStore to padded tensor batches: feature-group selection, standardisation, collate.

- :class:`FeatureSelection` keeps the columns of the audio feature groups named in ``config.audio.extractors``
  (ablations drop "mfcc" / "opensmile" / "soundnet") and drops a modality for ``--modality audio|video``; it
  keeps the audio speed views named in ``config.audio.speed_views`` (``ClipFeatures.audio_views``). Batches hold
  plain clips only: the views are predicted by ``training.trainer.predict_clips``.
- :class:`Standardizer` holds per-column mean and std fitted on the training clips only; it is applied per
  batch in :func:`collate`, so the (possibly 12k-dim) raw clip vectors are held once, never copied per fold.
- :class:`ClipSet` is the in-memory list of selected raw features with labels, speakers and ids.
- :class:`Batch` is what models consume: padded sequences with boolean masks, ``has_audio`` / ``has_video``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from avemotion.data.expression_prior import clip_prior, prior_columns, prior_matrix
from avemotion.data.manifest import ClipRecord
from avemotion.errors import AvemotionError
from avemotion.features.record import AudioView, ClipFeatures, Groups
from avemotion.modality import MODALITIES
from avemotion.utils.progress import warn

#: (store, missing speeds) already warned about
_WARNED: set[tuple[object, str]] = set()
_OPENSMILE_SET = re.compile(r"^(is\d\d|egemaps|compare)", re.IGNORECASE)


def group_family(name: str) -> str:
    """The extractor a feature-group name belongs to: ``"mfcc_delta"`` -> ``"mfcc"``, ``"IS09"`` -> ``"opensmile"``."""
    head = re.split(r"[_:./\- ]", name.strip(), maxsplit=1)[0].lower()
    if _OPENSMILE_SET.match(head):
        return "opensmile"
    return head


def _keep_columns(groups: Groups, width: int, keep: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Column indices of the groups whose name or family is in ``keep`` (all columns when no groups are known)."""
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
class FeatureDims:
    """Input widths after selection; 0 means the model has no such input."""

    audio_seq: int = 0
    audio_vec: int = 0
    video: int = 0
    #: widths of the clip vector's feature groups in column order (sum = audio_vec); empty: not known
    audio_vec_groups: tuple[int, ...] = ()

    @property
    def has_audio(self) -> bool:
        return self.audio_seq > 0 or self.audio_vec > 0

    @property
    def has_video(self) -> bool:
        return self.video > 0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"audio_seq": self.audio_seq, "audio_vec": self.audio_vec, "video": self.video}
        if self.audio_vec_groups:
            out["audio_vec_groups"] = list(self.audio_vec_groups)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> FeatureDims:
        return cls(int(d["audio_seq"]), int(d["audio_vec"]), int(d["video"]),
                   tuple(int(x) for x in d.get("audio_vec_groups", ())))


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
    audio_vec_sizes: list[int] = field(default_factory=list)  # widths of the kept clip-vector groups, in order
    speeds: list[float] = field(default_factory=list)  # audio views kept (prediction averages over them)

    @classmethod
    def fit(cls, features: Sequence[ClipFeatures], modality: str, extractors: Sequence[str],
            source: object = None, labels: Sequence[str] | None = None,
            speeds: Sequence[float] = ()) -> FeatureSelection:
        """``labels``: the model's classes; with them, clips carry the expression CNN's prior over them.
        ``speeds``: the audio views (``audio.speed_views``) to keep; a speed no stored clip has is dropped with a
        warning (a store extracted without it)."""
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
                raise AvemotionError(
                    f"no clip has audio features; train with --modality video (modality {modality!r} asked)", source)
            if seq_ref is not None:
                seq_cols, seq_groups = _keep_columns(seq_ref.audio_groups, seq_ref.audio_seq.shape[1], extractors)
            if vec_ref is not None:
                vec_cols, vec_groups = _keep_columns(vec_ref.audio_vec_groups, vec_ref.audio_vec.shape[0], extractors)
            if (seq_cols is None or seq_cols.size == 0) and (vec_cols is None or vec_cols.size == 0):
                known = sorted(set((seq_ref.audio_groups if seq_ref else {}) | (vec_ref.audio_vec_groups if vec_ref else {})))
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
                raise AvemotionError(
                    f"no clip has video features; train with --modality audio (modality {modality!r} asked)", source)
            use_video = True
            width = int(vid_ref.video_seq.shape[1])
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
            if missing and (str(source), missing) not in _WARNED:  # once per store (compare fits one per variant)
                _WARNED.add((str(source), missing))
                used = "".join(f"the {s:g}x view, " for s in kept)
                warn(f"no clip of the store has the audio speed view(s) {missing}x (extracted with other "
                     f"audio.speed_views): predictions use {used}the plain clip only; extract again to add them")
        return cls(modality, seq_cols, vec_cols, use_video, width, seq_groups, vec_groups, prior_cols, prior_map, sizes,
                   kept)

    @property
    def dims(self) -> FeatureDims:
        return FeatureDims(
            0 if self.audio_seq_cols is None else int(self.audio_seq_cols.size),
            0 if self.audio_vec_cols is None else int(self.audio_vec_cols.size),
            self.video_width if self.use_video else 0,
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
            prior = clip_prior(vid, mask, self.prior_cols, self.prior_map)
        return ClipFeatures(f.clip_id, seq, vec, vid, mask, meta=f.meta, audio_views=views, expression_prior=prior)

    def _audio(self, f: ClipFeatures, seq: np.ndarray | None,
               vec: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The kept columns of a clip's audio sequence and clip vector (those of ``f`` or of one of its views)."""
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
        }

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSelection:
        return cls(d["modality"], _unranges(d["audio_seq_cols"]), _unranges(d["audio_vec_cols"]),
                   bool(d["use_video"]), int(d["video_width"]), list(d.get("audio_seq_groups", [])),
                   list(d.get("audio_vec_groups", [])), _unranges(d.get("prior_cols")),
                   None if d.get("prior_map") is None else np.asarray(d["prior_map"], np.float32),
                   [int(x) for x in d.get("audio_vec_sizes", [])], [float(s) for s in d.get("speeds", [])])


def _by_name(clip_groups: Groups, kept: list[str], cols: np.ndarray) -> np.ndarray:
    """The kept groups' columns in this clip's own layout. A model trained on a store holding more extractors than
    it uses (e.g. all four, of which it keeps Whisper) sees, at prediction, features extracted with only the ones
    it uses: the same groups at other positions. Falls back to the stored indices when the clip's layout does not
    name every kept group with the trained width."""
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


# --- standardisation ------------------------------------------------------------------------------------
class _Moments:
    def __init__(self) -> None:
        self.n = 0
        self.s: np.ndarray | None = None
        self.ss: np.ndarray | None = None

    def add(self, rows: np.ndarray) -> None:
        if rows.size == 0:
            return
        r = rows.astype(np.float64, copy=False)
        s, ss = r.sum(0), np.einsum("ij,ij->j", r, r)
        self.s = s if self.s is None else self.s + s
        self.ss = ss if self.ss is None else self.ss + ss
        self.n += rows.shape[0]

    def result(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        if self.n == 0 or self.s is None or self.ss is None:
            return np.zeros(width, np.float32), np.ones(width, np.float32)
        mean = self.s / self.n
        var = np.maximum(self.ss / self.n - mean**2, 0.0)
        std = np.sqrt(var)
        std[std < 1e-6 * np.maximum(1.0, np.abs(mean))] = 1.0  # constant columns pass through centred
        return mean.astype(np.float32), std.astype(np.float32)


@dataclass
class Standardizer:
    """Per-column z-scoring of each input, fitted on training clips only; values are clipped to +-max_abs."""

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    max_abs: float = 10.0

    @classmethod
    def fit(cls, clips: Sequence[ClipFeatures], dims: FeatureDims, max_abs: float = 10.0) -> Standardizer:
        seq, vec, vid = _Moments(), _Moments(), _Moments()
        vec_rows = [c.audio_vec for c in clips if c.audio_vec is not None]
        if vec_rows:
            vec.add(np.stack(vec_rows))
        for c in clips:
            if c.audio_seq is not None:
                seq.add(c.audio_seq)
            if c.video_seq is not None and c.video_mask is not None:
                vid.add(c.video_seq[c.video_mask])  # frames without a face carry no information
        mean, std = {}, {}
        for name, mom, width in (("audio_seq", seq, dims.audio_seq), ("audio_vec", vec, dims.audio_vec),
                                 ("video", vid, dims.video)):
            if width:
                mean[name], std[name] = mom.result(width)
        return cls(mean, std, max_abs)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for name in self.mean:
            out[f"std.{name}.mean"] = torch.from_numpy(self.mean[name].copy())
            out[f"std.{name}.std"] = torch.from_numpy(self.std[name].copy())
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], max_abs: float) -> Standardizer:
        mean, std = {}, {}
        for key, t in tensors.items():
            if key.startswith("std.") and key.endswith(".mean"):
                name = key[4:-5]
                mean[name] = t.numpy().astype(np.float32)
                std[name] = tensors[f"std.{name}.std"].numpy().astype(np.float32)
        return cls(mean, std, max_abs)

    def transform(self, name: str, x: np.ndarray) -> np.ndarray:
        if name not in self.mean:
            return x
        z = (x - self.mean[name]) / self.std[name]
        np.clip(z, -self.max_abs, self.max_abs, out=z)
        return z.astype(np.float32, copy=False)


# --- clips and batches ----------------------------------------------------------------------------------
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
    def build(cls, records: Sequence[ClipRecord], features: Sequence[ClipFeatures], selection: FeatureSelection,
              label_names: Sequence[str], source: object = None, group_by: str = "speaker") -> ClipSet:
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
            speakers.append(rec.speaker if group_by == "speaker" else (str(rec.extra.get(group_by) or "") or None))
        if not feats:
            raise AvemotionError(f"no clip has the {selection.modality!r} features this run needs", source)
        return cls(feats, np.asarray(labels, dtype=np.int64), ids, speakers, list(label_names))


@dataclass
class Batch:
    """Padded inputs of B clips. Masks are True on real tokens; absent inputs are None."""

    audio_seq: torch.Tensor | None  # (B, Ta, Da) float
    audio_seq_mask: torch.Tensor | None  # (B, Ta) bool
    audio_vec: torch.Tensor | None  # (B, Dv)
    audio_vec_mask: torch.Tensor | None  # (B,) bool: the clip has a clip vector
    video_seq: torch.Tensor | None  # (B, Tv, Dx)
    video_mask: torch.Tensor | None  # (B, Tv) bool: a face was found in the frame
    has_audio: torch.Tensor  # (B,) bool
    has_video: torch.Tensor  # (B,) bool
    labels: torch.Tensor | None = None  # (B,) long
    video_prior: torch.Tensor | None = None  # (B, C) the expression CNN's prior over the labels
    video_prior_mask: torch.Tensor | None = None  # (B,) bool: the clip has one
    functionals: torch.Tensor | None = None  # (B, audio_vec + 2 video) float64 raw clip functionals, NaN where absent

    def __len__(self) -> int:
        return int(self.has_audio.shape[0])


def clip_functionals(clips: Sequence[ClipFeatures], dims: FeatureDims) -> np.ndarray:
    """(N, audio_vec + 2 video) clip functionals from the raw (unstandardised) features: the audio clip vector (or
    the sequence's mean when no clip vector is stored) and the mean and standard deviation of the face frames; NaN
    where a clip lacks the modality. The classical baselines' inputs and the linear read-outs'
    (``Batch.functionals``)."""
    width = dims.audio_vec + 2 * dims.video
    out = np.full((len(clips), width), np.nan, np.float64)
    for i, c in enumerate(clips):
        if dims.audio_vec and c.audio_vec is not None:
            out[i, : dims.audio_vec] = c.audio_vec
        elif dims.audio_vec and c.audio_seq is not None:  # no clip vector stored: the sequence's mean
            out[i, : dims.audio_vec] = np.asarray(c.audio_seq, np.float64).mean(0)[: dims.audio_vec]
        if dims.video and c.video_seq is not None and c.video_mask is not None and c.video_mask.any():
            frames = np.asarray(c.video_seq, np.float64)[np.asarray(c.video_mask, bool)]
            out[i, dims.audio_vec : dims.audio_vec + dims.video] = frames.mean(0)
            out[i, dims.audio_vec + dims.video :] = frames.std(0)
    return out


def collate(clips: Sequence[ClipFeatures], dims: FeatureDims, standardizer: Standardizer | None,
            labels: Sequence[int] | None = None) -> Batch:
    """Pad and standardise a list of selected clips into a :class:`Batch` (time padding at the end)."""
    b = len(clips)
    z = (lambda n, x: standardizer.transform(n, x)) if standardizer is not None else (lambda n, x: x)  # noqa: E731
    audio_seq = audio_seq_mask = audio_vec = audio_vec_mask = video_seq = video_mask = None
    if dims.audio_seq:
        t = max([c.audio_seq.shape[0] for c in clips if c.audio_seq is not None] or [1])
        arr = np.zeros((b, t, dims.audio_seq), np.float32)
        m = np.zeros((b, t), bool)
        for i, c in enumerate(clips):
            if c.audio_seq is not None and c.audio_seq.shape[0]:
                n = c.audio_seq.shape[0]
                arr[i, :n] = z("audio_seq", c.audio_seq)
                m[i, :n] = True
        audio_seq, audio_seq_mask = torch.from_numpy(arr), torch.from_numpy(m)
    if dims.audio_vec:
        arr = np.zeros((b, dims.audio_vec), np.float32)
        m = np.zeros(b, bool)
        rows = [i for i, c in enumerate(clips) if c.audio_vec is not None]
        if rows:
            arr[rows] = z("audio_vec", np.stack([clips[i].audio_vec for i in rows]))
            m[rows] = True
        audio_vec, audio_vec_mask = torch.from_numpy(arr), torch.from_numpy(m)
    if dims.video:
        t = max([c.video_seq.shape[0] for c in clips if c.video_seq is not None] or [1])
        arr = np.zeros((b, t, dims.video), np.float32)
        m = np.zeros((b, t), bool)
        for i, c in enumerate(clips):
            if c.video_seq is not None and c.video_mask is not None:
                n = c.video_seq.shape[0]
                valid = np.asarray(c.video_mask, bool)
                arr[i, :n][valid] = z("video", c.video_seq[valid])  # masked frames stay zero
                m[i, :n] = valid
        video_seq, video_mask = torch.from_numpy(arr), torch.from_numpy(m)
    has_audio = torch.zeros(b, dtype=torch.bool)
    if audio_seq_mask is not None:
        has_audio |= audio_seq_mask.any(1)
    if audio_vec_mask is not None:
        has_audio |= audio_vec_mask
    has_video = video_mask.any(1) if video_mask is not None else torch.zeros(b, dtype=torch.bool)
    prior = prior_mask = None
    rows = [i for i, c in enumerate(clips) if c.expression_prior is not None]
    if rows:
        width = clips[rows[0]].expression_prior.shape[0]
        arr = np.full((b, width), 1.0 / width, np.float32)
        arr[rows] = np.stack([clips[i].expression_prior for i in rows])
        m = np.zeros(b, bool)
        m[rows] = True
        prior, prior_mask = torch.from_numpy(arr), torch.from_numpy(m)
    functionals = torch.from_numpy(clip_functionals(clips, dims)) if dims.audio_vec or dims.video else None  # float64
    return Batch(audio_seq, audio_seq_mask, audio_vec, audio_vec_mask, video_seq, video_mask, has_audio, has_video,
                 None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long), prior, prior_mask,
                 functionals)


def mix_batch(batch: Batch, perm: torch.Tensor, lam: float) -> Batch:
    """Mixup (Zhang et al., 2018) of a batch with its permutation ``perm``: every input is ``lam * x + (1 - lam) *
    x[perm]`` (padding and faceless frames are zero, so sequences of different lengths mix over the union of their
    masks); labels are left as they are, the loss mixes them."""

    def mix(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else lam * x + (1.0 - lam) * x[perm]

    def union(m: torch.Tensor | None) -> torch.Tensor | None:
        return None if m is None else m | m[perm]

    return Batch(mix(batch.audio_seq), union(batch.audio_seq_mask), mix(batch.audio_vec), union(batch.audio_vec_mask),
                 mix(batch.video_seq), union(batch.video_mask), batch.has_audio | batch.has_audio[perm],
                 batch.has_video | batch.has_video[perm], batch.labels, mix(batch.video_prior),
                 union(batch.video_prior_mask), mix(batch.functionals))


def iterate_batches(clipset: ClipSet, idx: Sequence[int], batch_size: int, dims: FeatureDims,
                    standardizer: Standardizer | None, generator: torch.Generator | None = None) -> Iterator[Batch]:
    """Batches over ``idx``; shuffled with ``generator`` when one is given (training), in order otherwise."""
    order = np.asarray(idx, dtype=np.int64)
    if generator is not None:
        order = order[torch.randperm(len(order), generator=generator).numpy()]
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        yield collate([clipset.features[i] for i in chunk], dims, standardizer, clipset.labels[chunk])
