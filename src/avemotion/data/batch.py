"""What models consume: padded tensor batches of selected clips, and the clip functionals.

- :class:`Batch`: padded sequences with boolean masks, ``has_audio`` / ``has_video``, the expression prior and
  the raw clip functionals; absent inputs are None.
- :func:`collate` pads and standardises a list of selected clips (the
  :class:`~avemotion.data.standardize.Standardizer` applied per batch); :func:`iterate_batches` walks a
  :class:`~avemotion.data.clipset.ClipSet` in batches; :func:`mix_batch` is mixup over a batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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
    video_seq: torch.Tensor | None  # (B, Tv, Dx)
    video_mask: torch.Tensor | None  # (B, Tv) bool: a face was found in the frame
    has_audio: torch.Tensor  # (B,) bool
    has_video: torch.Tensor  # (B,) bool
    labels: torch.Tensor | None = None  # (B,) long
    video_prior: torch.Tensor | None = None  # (B, C) the expression CNN's prior over the labels
    video_prior_mask: torch.Tensor | None = None  # (B,) bool: the clip has one
    #: (B, audio_vec + 2 video) float64 raw clip functionals, NaN where absent
    functionals: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.has_audio.shape[0])


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
            labels: Sequence[int] | None = None) -> Batch:
    """Pad and standardise a list of selected clips into a :class:`Batch` (time padding at the end)."""
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
    # float64
    functionals = torch.from_numpy(clip_functionals(clips, dims)) if dims.audio_vec or dims.video else None
    return Batch(audio_seq, audio_seq_mask, audio_vec, audio_vec_mask, video_seq, video_mask, has_audio,
                 has_video, None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long),
                 prior, prior_mask, functionals)


def mix_batch(batch: Batch, perm: torch.Tensor, lam: float) -> Batch:
    """Mixup (Zhang et al., 2018) of a batch with its permutation ``perm``: every input is
    ``lam * x + (1 - lam) * x[perm]`` (padding and faceless frames are zero, so sequences of different lengths
    mix over the union of their masks); labels are left as they are, the loss mixes them."""

    def mix(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else lam * x + (1.0 - lam) * x[perm]

    def union(m: torch.Tensor | None) -> torch.Tensor | None:
        return None if m is None else m | m[perm]

    return Batch(mix(batch.audio_seq), union(batch.audio_seq_mask), mix(batch.audio_vec),
                 union(batch.audio_vec_mask), mix(batch.video_seq), union(batch.video_mask),
                 batch.has_audio | batch.has_audio[perm],
                 batch.has_video | batch.has_video[perm], batch.labels, mix(batch.video_prior),
                 union(batch.video_prior_mask), mix(batch.functionals))


def iterate_batches(clipset: ClipSet, idx: Sequence[int], batch_size: int, dims: FeatureDims,
                    standardizer: Standardizer | None,
                    generator: torch.Generator | None = None) -> Iterator[Batch]:
    """Batches over ``idx``; shuffled with ``generator`` when one is given (training), in order otherwise."""
    order = np.asarray(idx, dtype=np.int64)
    if generator is not None:
        order = order[torch.randperm(len(order), generator=generator).numpy()]
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        yield collate([clipset.features[i] for i in chunk], dims, standardizer, clipset.labels[chunk])
