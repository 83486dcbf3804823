"""What models consume: padded tensor batches of selected clips, and the clip functionals.

- :class:`Batch`: padded sequences with boolean masks, ``has_audio`` / ``has_video``, the expression prior and
  the raw clip functionals; absent inputs are None.
- :func:`collate` pads and standardises a list of selected clips (the
  :class:`~avemotion.data.standardize.Standardizer` applied per batch); with ``share_video`` clips that carry
  the same video arrays (a clip's audio speed views) get one video row between them (``Batch.video_rows``);
  :func:`iterate_batches` walks a :class:`~avemotion.data.clipset.ClipSet` in batches; :func:`mix_batch` is
  mixup over a batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from avemotion.data.clipset import ClipSet
from avemotion.data.dims import FeatureDims
from avemotion.data.standardize import Standardizer
from avemotion.features.record import ClipFeatures


@dataclass
class Batch:
    """Padded inputs of B clips. Masks are True on real tokens; absent inputs are None."""

    audio_seq: torch.Tensor | None  # (B, Ta, Da) float
    audio_seq_mask: torch.Tensor | None  # (B, Ta) bool
    audio_vec: torch.Tensor | None  # (B, Dv)
    audio_vec_mask: torch.Tensor | None  # (B,) bool: the clip has a clip vector
    video_seq: torch.Tensor | None  # (B, Tv, Dx), or (V, Tv, Dx) with video_rows
    video_mask: torch.Tensor | None  # (B, Tv) bool: a face was found in the frame; (V, Tv) with video_rows
    has_audio: torch.Tensor  # (B,) bool
    has_video: torch.Tensor  # (B,) bool
    labels: torch.Tensor | None = None  # (B,) long
    video_prior: torch.Tensor | None = None  # (B, C) the expression CNN's prior over the labels
    video_prior_mask: torch.Tensor | None = None  # (B,) bool: the clip has one
    #: (B, audio_vec + 2 video) float64 raw clip functionals, NaN where absent
    functionals: torch.Tensor | None = None
    #: (B,) long: clip i's video is ``video_seq[video_rows[i]]`` (its V distinct videos, each once); None: row i
    video_rows: torch.Tensor | None = None
    #: (B,) float: the share of the clip's frames with a face (0 without a video)
    face_share: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.has_audio.shape[0])

    def per_clip_video(self) -> Batch:
        """This batch with one video row per clip (``video_rows`` expanded): what models that do not share
        video rows take."""
        if self.video_rows is None or self.video_seq is None or self.video_mask is None:
            return self
        return replace(self, video_seq=self.video_seq.index_select(0, self.video_rows),
                       video_mask=self.video_mask.index_select(0, self.video_rows), video_rows=None)


def clip_functionals(clips: Sequence[ClipFeatures], dims: FeatureDims) -> np.ndarray:
    """(N, audio_vec + 2 video) clip functionals from the raw (unstandardised) features: the audio clip
    vector (or the sequence's mean when no clip vector is stored) and the mean and standard deviation of the
    face frames; NaN where a clip lacks the modality. The classical baselines' inputs and the linear
    read-outs' (``Batch.functionals``)."""
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
            labels: Sequence[int] | None = None, share_video: bool = False) -> Batch:
    """Pad and standardise a list of selected clips into a :class:`Batch` (time padding at the end). With
    ``share_video``, clips whose video is the same array (:meth:`ClipFeatures.with_views`) share one row of
    ``video_seq`` (``Batch.video_rows``), so a model that supports it runs its video branch once for them."""
    b = len(clips)
    z = (lambda n, x: standardizer.transform(n, x)) if standardizer is not None else (lambda n, x: x)
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
    video_rows = None
    if dims.video:
        rows_of, first = _video_rows(clips) if share_video else (list(range(b)), list(range(b)))
        t = max([c.video_seq.shape[0] for c in clips if c.video_seq is not None] or [1])
        arr = np.zeros((len(first), t, dims.video), np.float32)
        m = np.zeros((len(first), t), bool)
        for row, i in enumerate(first):
            c = clips[i]
            if c.video_seq is not None and c.video_mask is not None:
                n = c.video_seq.shape[0]
                valid = np.asarray(c.video_mask, bool)
                arr[row, :n][valid] = z("video", c.video_seq[valid])  # masked frames stay zero
                m[row, :n] = valid
        video_seq, video_mask = torch.from_numpy(arr), torch.from_numpy(m)
        if len(first) < b:
            video_rows = torch.as_tensor(rows_of, dtype=torch.long)
    has_audio = torch.zeros(b, dtype=torch.bool)
    if audio_seq_mask is not None:
        has_audio |= audio_seq_mask.any(1)
    if audio_vec_mask is not None:
        has_audio |= audio_vec_mask
    has_video = video_mask.any(1) if video_mask is not None else torch.zeros(b, dtype=torch.bool)
    face_share = torch.tensor([float(np.mean(c.video_mask)) if c.video_mask is not None and len(c.video_mask) else 0.0
                               for c in clips], dtype=torch.float32) if dims.video else None
    if video_rows is not None:
        has_video = has_video.index_select(0, video_rows)
    prior = prior_mask = None
    rows = [i for i, c in enumerate(clips) if c.expression_prior is not None]
    if rows:
        width = clips[rows[0]].expression_prior.shape[0]
        arr = np.full((b, width), 1.0 / width, np.float32)
        arr[rows] = np.stack([clips[i].expression_prior for i in rows])
        m = np.zeros(b, bool)
        m[rows] = True
        prior, prior_mask = torch.from_numpy(arr), torch.from_numpy(m)
    # float64
    functionals = torch.from_numpy(clip_functionals(clips, dims)) if dims.audio_vec or dims.video else None
    return Batch(audio_seq, audio_seq_mask, audio_vec, audio_vec_mask, video_seq, video_mask, has_audio,
                 has_video, None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long),
                 prior, prior_mask, functionals, video_rows, face_share)


def _video_rows(clips: Sequence[ClipFeatures]) -> tuple[list[int], list[int]]:
    """For each clip the row of its video among the distinct ones, and the first clip of each distinct video.
    Videos are the same when they are the same arrays (a clip and its audio views), not merely equal; clips
    without a video share one empty row."""
    seen: dict[tuple[int, int], int] = {}
    rows_of, first = [], []
    for i, c in enumerate(clips):
        key = (id(c.video_seq), id(c.video_mask)) if c.video_seq is not None else (-1, -1)
        if key not in seen:
            seen[key] = len(first)
            first.append(i)
        rows_of.append(seen[key])
    return rows_of, first


def mix_batch(batch: Batch, perm: torch.Tensor, lam: float) -> Batch:
    """Mixup (Zhang et al., 2018) of a batch with its permutation ``perm``: every input is
    ``lam * x + (1 - lam) * x[perm]`` (padding and faceless frames are zero, so sequences of different lengths
    mix over the union of their masks); labels are left as they are, the loss mixes them."""

    def mix(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else lam * x + (1.0 - lam) * x[perm]

    def union(m: torch.Tensor | None) -> torch.Tensor | None:
        return None if m is None else m | m[perm]

    batch = batch.per_clip_video()
    return Batch(mix(batch.audio_seq), union(batch.audio_seq_mask), mix(batch.audio_vec),
                 union(batch.audio_vec_mask), mix(batch.video_seq), union(batch.video_mask),
                 batch.has_audio | batch.has_audio[perm],
                 batch.has_video | batch.has_video[perm], batch.labels, mix(batch.video_prior),
                 union(batch.video_prior_mask), mix(batch.functionals), None, mix(batch.face_share))


def iterate_batches(clipset: ClipSet, idx: Sequence[int], batch_size: int, dims: FeatureDims,
                    standardizer: Standardizer | None, generator: torch.Generator | None = None,
                    buckets: int = 0) -> Iterator[Batch]:
    """Batches over ``idx``; shuffled with ``generator`` when one is given (training), in order otherwise.
    ``buckets`` > 0 (with a generator): clips of similar length batched together (:func:`bucketed`)."""
    order = np.asarray(idx, dtype=np.int64)
    if generator is not None:
        order = order[torch.randperm(len(order), generator=generator).numpy()]
    if generator is not None and buckets > 0:
        chunks = bucketed(order, [clip_length(clipset.features[i]) for i in order], batch_size, buckets, generator)
    else:
        chunks = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    for chunk in chunks:
        yield collate([clipset.features[i] for i in chunk], dims, standardizer, clipset.labels[chunk])


def clip_length(f: ClipFeatures) -> int:
    """What a clip's padded batch grows with: its audio tokens plus its video frames."""
    return sum(len(x) for x in (f.audio_seq, f.video_seq) if x is not None)


#: length bucketing sorts by log length plus a uniform draw of this width: clips within about 28 % of each
#: other's length land in a batch in random order, so which clips meet still changes every epoch on a small set
LENGTH_JITTER = 0.25


def bucketed(order: np.ndarray, lengths: Sequence[int], batch_size: int, buckets: int,
             generator: torch.Generator) -> list[np.ndarray]:
    """Length bucketing, as speech toolkits batch: the shuffled ``order`` taken ``buckets`` batches at a time,
    each group sorted by log length plus a random jitter (:data:`LENGTH_JITTER`) and cut into batches, and the
    batches then shuffled; all drawn from ``generator``. A batch pads to lengths close to its own."""
    keys = np.log(np.maximum(np.asarray(lengths, dtype=np.float64), 1.0))
    keys = keys + LENGTH_JITTER * torch.rand(len(order), generator=generator, dtype=torch.float64).numpy()
    pool = batch_size * buckets
    chunks = []
    for start in range(0, len(order), pool):
        part = order[start:start + pool]
        part = part[np.argsort(keys[start:start + pool], kind="stable")]
        chunks += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]
