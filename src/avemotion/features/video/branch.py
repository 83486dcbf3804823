"""The video branch: a clip -> per-frame x_t (``VideoFeatures``), streamed from the decoder.

``VideoBranch(config.video).extract_file(path)`` samples frames at ``config.fps`` (at most
``config.max_frames``) with :func:`avemotion.media.iter_frames` and runs the extractors named in
``config.extractors`` (registered in :data:`avemotion.features.VIDEO_EXTRACTORS`; default ``["face"]``).
Frames are not kept: only the output rows (T x D float32) grow with the clip.

Rows where no face was found are all zeros and ``mask`` is False there; a clip without any face comes back
with an all-False mask (``face_rate == 0``) unless ``require_face`` is set, which raises
:class:`avemotion.errors.NoFaceFound` naming the file.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avemotion.config import VideoConfig
from avemotion.errors import NoFaceFound
from avemotion.features import VIDEO_EXTRACTORS
from avemotion.features.video import extractor as _extractor  # noqa: F401  (registers "face")
from avemotion.features.video.base import FrameRow, VideoExtractor
from avemotion.media import VideoFrame, iter_frames

Groups = dict[str, tuple[int, int]]


@dataclass
class VideoFeatures:
    seq: np.ndarray  # (T, D) float32 per-frame x_t; zero rows where mask is False
    mask: np.ndarray  # (T,) bool: a face was found
    times: np.ndarray  # (T,) float64 seconds
    groups: Groups  # name -> [start, stop) columns of seq
    face_rate: float  # fraction of frames with a face
    boxes: np.ndarray  # (T, 4) float32 face box x0, y0, x1, y1 in frame pixels (zeros where masked)
    source: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent per step over the clip
    feature_names: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.seq.shape[0])

    @property
    def dim(self) -> int:
        return int(self.seq.shape[1])

    @property
    def has_face(self) -> bool:
        return bool(self.mask.any())

    def group(self, name: str) -> np.ndarray:
        start, stop = self.groups[name]
        return self.seq[:, start:stop]

    def require_face(self) -> VideoFeatures:
        """Return self, or raise :class:`NoFaceFound` (naming the file) when no frame has a face."""
        if not self.has_face:
            raise NoFaceFound(
                f"no face found in any of the {self.n_frames} sampled frames; use this clip audio-only "
                "(--modality audio), or check that a face is visible and not too small or dark",
                self.source,
            )
        return self


class VideoBranch:
    """Per-frame visual features for whole clips. Reuse one instance per process (models load lazily)."""

    def __init__(self, config: VideoConfig | None = None) -> None:
        self.config = config or VideoConfig()
        if not self.config.extractors:
            raise ValueError("video.extractors is empty: name at least one (e.g. face)")
        self.extractors: list[VideoExtractor] = [
            VIDEO_EXTRACTORS.get(name)(self.config) for name in self.config.extractors
        ]
        self.groups: Groups = {}
        self.feature_names: list[str] = []
        offset = 0
        for ext in self.extractors:
            for name, (a, b) in ext.groups.items():
                key = name if name not in self.groups else f"{ext.name}.{name}"
                self.groups[key] = (a + offset, b + offset)
            self.feature_names += ext.feature_names
            offset += ext.dim
        self.dim = offset

    # --- lifecycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        for ext in self.extractors:
            ext.close()

    def __enter__(self) -> VideoBranch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- extraction -----------------------------------------------------------------------------------
    def extract_file(
        self,
        path: str | Path,
        *,
        require_face: bool | None = None,
        start: float = 0.0,
        end: float | None = None,
    ) -> VideoFeatures:
        frames = iter_frames(path, self.config.fps, start=start, end=end, max_frames=self.config.max_frames)
        feats = self.extract_frames(frames, source=str(path))
        if self.config.require_face if require_face is None else require_face:
            feats.require_face()
        return feats

    def extract_frames(self, frames: Iterable[VideoFrame], source: str | None = None) -> VideoFeatures:
        from avemotion.utils.quiet_mediapipe import native_stderr_silenced

        # MediaPipe's graph threads log start-up lines (C++, straight to fd 2) at unpredictable moments after
        # each per-clip restart: keep the native stream quiet while a clip is processed. Python errors are
        # exceptions and still reach the caller.
        with native_stderr_silenced():
            return self._extract_frames(frames, source)

    def _extract_frames(self, frames: Iterable[VideoFrame], source: str | None = None) -> VideoFeatures:
        for ext in self.extractors:
            ext.reset()
            ext.reset_timings()
        per_ext: list[list[FrameRow]] = [[] for _ in self.extractors]
        times: list[float] = []
        decode = 0.0
        it: Iterator[VideoFrame] = iter(frames)
        limit = self.config.max_frames
        t_start = time.perf_counter()
        while limit is None or len(times) < limit:
            t0 = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                break
            decode += time.perf_counter() - t0
            times.append(frame.time)
            for rows, ext in zip(per_ext, self.extractors, strict=True):
                rows.extend(ext.feed(frame))
        for rows, ext in zip(per_ext, self.extractors, strict=True):
            rows.extend(ext.flush())
        total = time.perf_counter() - t_start
        n = len(times)
        seq = np.zeros((n, self.dim), np.float32)
        mask = np.ones(n, bool)
        boxes = np.zeros((n, 4), np.float32)
        offset = 0
        for rows, ext in zip(per_ext, self.extractors, strict=True):
            assert len(rows) == n, "extractor returned a wrong number of rows"
            for i, row in enumerate(rows):
                if row.vector is None:
                    mask[i] = False
                else:
                    seq[i, offset : offset + ext.dim] = row.vector
                    if row.box is not None:
                        boxes[i] = row.box
            offset += ext.dim
        seq[~mask] = 0.0
        boxes[~mask] = 0.0
        if not np.isfinite(seq).all():  # defensive: never hand NaN to the models
            bad = ~np.isfinite(seq).all(axis=1)
            seq[bad] = 0.0
            mask[bad] = False
        timings = {"decode": decode, "total": total}
        for ext in self.extractors:
            timings.update(ext.timings())
        return VideoFeatures(
            seq=seq, mask=mask, times=np.asarray(times, np.float64), groups=dict(self.groups),
            face_rate=float(mask.mean()) if n else 0.0, boxes=boxes, source=source, timings=timings,
            feature_names=list(self.feature_names),
        )
