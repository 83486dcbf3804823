"""The interface of a per-frame video extractor.

The counterpart of :class:`~avemotion.features.audio.common.AudioExtractor`.

An extractor is registered by name in :data:`avemotion.features.VIDEO_EXTRACTORS` and streams: ``feed(frame)``
returns the rows that are complete (an extractor may batch, so rows can come out later than their frames),
``flush()`` returns the rest at the end of a clip, ``reset()`` starts a new clip. Each row is a
:class:`FrameRow`; ``vector=None`` marks a frame the extractor has nothing for (no face). It declares its
width (``dim``), its column groups (``groups``: name -> [start, stop)), one name per column
(``feature_names``) and the seconds it spent per step since the last ``reset_timings()`` (``timings()``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from avemotion.config import VideoConfig
from avemotion.media import VideoFrame

Groups = dict[str, tuple[int, int]]


@dataclass
class FrameRow:
    time: float
    vector: np.ndarray | None  # (dim,) float32, None where the extractor has nothing (no face)
    box: tuple[float, float, float, float] | None  # face box x0, y0, x1, y1 in frame pixels


class VideoExtractor(ABC):
    """One registered per-frame video extractor. Subclasses set ``groups`` (and so ``dim``) in ``__init__``."""

    name: str = ""

    def __init__(self, config: VideoConfig | None = None) -> None:
        self.config = config or VideoConfig()
        self.groups: Groups = {}

    @property
    def dim(self) -> int:
        return max((stop for _, stop in self.groups.values()), default=0)

    @property
    @abstractmethod
    def feature_names(self) -> list[str]:
        """One name per column, ``dim`` in all."""

    @abstractmethod
    def feed(self, frame: VideoFrame) -> list[FrameRow]:
        """Take the next frame of the clip; return the rows completed so far (in frame order)."""

    @abstractmethod
    def flush(self) -> list[FrameRow]:
        """The rows still pending at the end of a clip."""

    @abstractmethod
    def reset(self) -> None:
        """Forget the previous clip (tracking state, pending rows)."""

    def timings(self) -> dict[str, float]:
        """Seconds spent per step since :meth:`reset_timings`."""
        return {}

    def reset_timings(self) -> None:  # noqa: B027 - optional hook: extractors without timings keep none
        """Start counting :meth:`timings` from zero."""

    def close(self) -> None:  # noqa: B027 - optional hook: not every extractor holds native resources
        """Release native resources (models, graphs)."""
