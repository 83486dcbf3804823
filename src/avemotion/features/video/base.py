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
from typing import Any, ClassVar

import numpy as np

from avemotion.config import Section
from avemotion.media import VideoFrame

Groups = dict[str, tuple[int, int]]


@dataclass
class FrameRow:
    time: float
    vector: np.ndarray | None  # (dim,) float32, None where the extractor has nothing (no face)
    box: tuple[float, float, float, float] | None  # face box x0, y0, x1, y1 in frame pixels


class VideoExtractor(ABC):
    """One registered per-frame video extractor. Subclasses set ``name``, ``config_type`` (the class of their
    section of the video config, ``video.<name>``) and, in ``__init__``, ``groups`` (and so ``dim``)."""

    name: str = ""
    #: the extractor's settings: the section ``video.<name>`` of the config
    config_type: ClassVar[type[Section]] = Section

    def __init__(self, config: Any = None, fps: float = 15.0) -> None:
        """``config``: the extractor's section (default: its defaults); ``fps``: the rate the branch samples
        frames at (``video.fps``)."""
        self.config = config if config is not None else self.config_type()
        if not isinstance(self.config, self.config_type):
            raise TypeError(f"the {self.name} extractor takes a {self.config_type.__name__}, "
                            f"not a {type(self.config).__name__}")
        self.fps = fps
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
