"""Model latency, measured one way everywhere (metrics.json, ``avemotion compare``'s Table 3, benchmarks):
clips predicted one by one (batch 1) on one thread, under ``torch.inference_mode``, after a warm-up."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from avemotion.data.batch import collate
from avemotion.data.dims import FeatureDims
from avemotion.data.standardize import Standardizer
from avemotion.features.record import ClipFeatures
from avemotion.models.base import EmotionModel
from avemotion.utils.workers import torch_threads

T = TypeVar("T")


@dataclass
class Latency:
    clips: int
    total_ms: float
    per_clip: np.ndarray  # (clips,) ms of each prediction
    include_collate: bool  # standardisation and padding counted (features -> probabilities)

    @property
    def ms_per_clip(self) -> float:
        return self.total_ms / max(self.clips, 1)

    def to_dict(self) -> dict:
        return {"clips": self.clips, "total_ms": self.total_ms, "ms_per_clip": self.ms_per_clip,
                "median_ms": float(np.median(self.per_clip)) if self.clips else None,
                "p95_ms": float(np.percentile(self.per_clip, 95)) if self.clips else None,
                "threads": 1, "batch": 1, "include_collate": self.include_collate}


def time_calls(predict: Callable[[T], object], items: Sequence[T], warmup: int = 5) -> tuple[float, np.ndarray]:
    """Call ``predict`` on each item (after ``warmup`` untimed calls); total ms and ms of each call."""
    for item in items[:warmup]:
        predict(item)
    times = np.zeros(len(items))
    t_all = time.perf_counter()
    for i, item in enumerate(items):
        t0 = time.perf_counter()
        predict(item)
        times[i] = (time.perf_counter() - t0) * 1000
    return (time.perf_counter() - t_all) * 1000, times


def time_clips(model: EmotionModel, clips: Sequence[ClipFeatures], dims: FeatureDims, std: Standardizer | None,
               *, include_collate: bool = True, warmup: int = 5) -> Latency:
    """Predict ``clips`` one at a time and time each; ``include_collate=False`` times the model alone (inputs
    collated beforehand, as the paper's Table 3 times the network). A clip with audio speed views is one batch of
    its versions (:meth:`ClipFeatures.with_views`), as prediction runs it."""
    model.eval()

    def one(c: ClipFeatures):  # returns a Batch
        return collate(c.with_views(), dims, std)

    with torch_threads(1), torch.inference_mode():
        for c in clips[:warmup]:
            model(one(c))
        if include_collate:
            total, times = time_calls(lambda c: model(one(c)), clips, warmup=0)
        else:
            total, times = time_calls(model, [one(c) for c in clips], warmup=0)
    return Latency(len(clips), total, times, include_collate)
