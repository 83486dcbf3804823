"""Prediction on feature clips: a model's answers for a list of
:class:`~avemotion.features.record.ClipFeatures`, as a :class:`Predictions` record. Used by training
(validation, test folds) and by inference alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from avemotion.data.batch import Batch, collate
from avemotion.data.dims import FeatureDims
from avemotion.data.standardize import Standardizer
from avemotion.models.base import HEADS, EmotionModel, ModelOutput
from avemotion.models.device import to_device
from avemotion.models.readout import ReadoutMixin


@dataclass
class Predictions:
    """A model's answers for N clips: final probabilities, each head's, fusion weights and contributions."""

    probs: np.ndarray  # (N, C)
    head_probs: dict[str, np.ndarray]  # head -> (N, C), NaN rows where the head is unavailable
    weights: np.ndarray  # (N, 3)
    contributions: np.ndarray  # (N, 3)

    def to_dict(self) -> dict:
        return {"probs": self.probs.tolist(), "weights": self.weights.tolist(),
                "contributions": self.contributions.tolist(),
                "head_probs": {h: np.where(np.isnan(p), None, p).tolist()
                               for h, p in self.head_probs.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> Predictions:
        return cls(np.asarray(d["probs"], np.float64),
                   {h: np.asarray(p, dtype=np.float64) for h, p in d.get("head_probs", {}).items()},
                   np.asarray(d.get("weights", []), np.float64),
                   np.asarray(d.get("contributions", []), np.float64))

    @classmethod
    def empty(cls, n_classes: int) -> Predictions:
        none = np.zeros((0, n_classes))
        return cls(none, {}, np.zeros((0, 3)), np.zeros((0, 3)))


@dataclass(frozen=True)
class PreparedClips:
    """Clips collated once with their audio speed views, to be predicted again and again with the same inputs
    and standardisation (a training run's validation clips, after every epoch): ``batches`` of the clips'
    versions, ``owner`` the clip of each version, ``n_clips``."""

    batches: list[Batch]
    owner: np.ndarray
    n_clips: int


#: :func:`prepare_clips` gives up caching beyond this many bytes of batches (prediction then collates again)
PREPARED_MAX_BYTES = 1 << 30


def prepare_clips(clips: list, dims: FeatureDims, std: Standardizer | None, batch_size: int,
                  share_video: bool) -> PreparedClips | None:
    """``clips`` collated as :func:`predict_clips` collates them, kept for repeated predictions; None when the
    batches would take more than :data:`PREPARED_MAX_BYTES`. ``share_video``: a clip's versions share one video row
    (for models with :attr:`~avemotion.models.base.EmotionModel.shares_video_rows`)."""
    versions, owner = _versions(clips)
    batches, size = [], 0
    for batch in _batches(versions, dims, std, batch_size, share_video):
        size += sum(t.element_size() * t.nelement() for t in vars(batch).values() if isinstance(t, torch.Tensor))
        if size > PREPARED_MAX_BYTES:
            return None
        batches.append(batch)
    return PreparedClips(batches, owner, len(clips))


@torch.no_grad()
def predict_clips(model: EmotionModel, clips: list | PreparedClips, dims: FeatureDims, std: Standardizer | None,
                  batch_size: int = 64) -> Predictions:
    """The model's predictions for ``clips`` (or clips prepared by :func:`prepare_clips`, for which ``dims``,
    ``std`` and ``batch_size`` are those it was prepared with). A clip with audio speed views
    (``audio.speed_views``) is predicted once per version (:meth:`ClipFeatures.with_views`) and everything
    averaged over them: the final and each head's probabilities, the fusion weights and the contributions."""
    model.eval()
    return _predict(lambda batch: [model(batch)], 1, _prepared(model, clips, dims, std, batch_size))[0]


@torch.no_grad()
def predict_clips_mixes(model: EmotionModel, clips: list | PreparedClips, dims: FeatureDims,
                        std: Standardizer | None, batch_size: int, weights: Sequence[float]) -> list[Predictions]:
    """:func:`predict_clips` with each read-out weight of a :class:`~avemotion.models.readout.ReadoutMixin`
    model in turn (its weight is left at the last), the network run once for all of them."""
    assert isinstance(model, ReadoutMixin)
    model.eval()
    device = next(model.parameters()).device  # forward_mixes bypasses the device hooks of forward: move here

    def run(batch: Batch) -> list[ModelOutput]:
        if device.type == "cpu":
            return model.forward_mixes(batch, weights)
        return [to_device(out, "cpu") for out in model.forward_mixes(to_device(batch, device), weights)]

    return _predict(run, len(weights), _prepared(model, clips, dims, std, batch_size))


def _versions(clips: list) -> tuple[list, np.ndarray]:
    """Every clip followed by its audio speed views, and the clip of each version."""
    versions = [v for c in clips for v in c.with_views()]
    return versions, np.repeat(np.arange(len(clips)), [1 + len(c.audio_views) for c in clips])


def _batches(versions: list, dims: FeatureDims, std: Standardizer | None, batch_size: int,
             share_video: bool) -> Iterator[Batch]:
    for start in range(0, len(versions), batch_size):
        yield collate(versions[start:start + batch_size], dims, std, share_video=share_video)


def _prepared(model: EmotionModel, clips: list | PreparedClips, dims: FeatureDims, std: Standardizer | None,
              batch_size: int) -> tuple[Iterable[Batch], np.ndarray, int]:
    """The batches (collated as they are consumed, unless prepared), the owner of each version, the clip count."""
    if isinstance(clips, PreparedClips):
        return clips.batches, clips.owner, clips.n_clips
    versions, owner = _versions(clips)
    return _batches(versions, dims, std, batch_size, model.shares_video_rows), owner, len(clips)


def _predict(run: Callable[[Batch], list[ModelOutput]], n_runs: int,
             prepared: tuple[Iterable[Batch], np.ndarray, int]) -> list[Predictions]:
    batches, owner, n_clips = prepared
    probs: list[list[np.ndarray]] = [[] for _ in range(n_runs)]
    weights: list[list[np.ndarray]] = [[] for _ in range(n_runs)]
    contrib: list[list[np.ndarray]] = [[] for _ in range(n_runs)]
    heads: list[dict[str, list[np.ndarray]]] = [{h: [] for h in HEADS} for _ in range(n_runs)]
    for batch in batches:
        for k, out in enumerate(run(batch)):
            probs[k].append(out.probs.double().numpy())
            weights[k].append(out.weights.double().numpy())
            contrib[k].append(out.contributions().double().numpy())
            hp = out.head_probs()
            for h in HEADS:
                if h in hp:
                    p = hp[h].double().numpy().copy()
                    p[~out.available[h].numpy()] = np.nan
                else:
                    p = np.full_like(probs[k][-1], np.nan)
                heads[k][h].append(p)

    def mean(parts: list[np.ndarray]) -> np.ndarray:  # per clip, over its versions (NaN stays NaN)
        rows = np.concatenate(parts)
        if len(rows) == n_clips:
            return rows
        total = np.zeros((n_clips, rows.shape[1]))
        np.add.at(total, owner, rows)
        return total / np.bincount(owner, minlength=n_clips)[:, None]

    return [Predictions(mean(probs[k]), {h: mean(v) for h, v in heads[k].items()}, mean(weights[k]),
                        mean(contrib[k])) for k in range(n_runs)]
