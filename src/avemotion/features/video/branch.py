"""The video branch: a clip -> per-frame x_t (``VideoFeatures``), streamed from the decoder.

``VideoBranch(config.video).extract_file(path)`` samples frames at ``config.fps`` (at most
``config.max_frames``) with :func:`avemotion.media.iter_frames` and runs the extractors named in
``config.extractors`` (registered in :data:`avemotion.features.VIDEO_EXTRACTORS`; default ``["face"]``).
Frames are not kept: only the output rows (T x D float32) grow with the clip. A span of a file is
``extract_file(path, start=, end=)``; windows of a file are :meth:`VideoBranch.extract_windows` (one
streaming pass for all of them).

Rows where no face was found are all zeros and ``mask`` is False there; a clip without any face comes back
with an all-False mask (``face_rate == 0``) unless ``require_face`` is set, which raises
:class:`avemotion.errors.NoFaceFound` naming the file.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avemotion.config import VideoConfig
from avemotion.errors import AvemotionError, NoFaceFound, ZeroDuration
from avemotion.features import VIDEO_EXTRACTORS
from avemotion.features.video import extractor as _extractor  # noqa: F401  (registers "face")
from avemotion.features.video.base import FrameRow, VideoExtractor
from avemotion.features.windows import Span
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

    def window(self, start: float, end: float, max_frames: int | None = None) -> VideoFeatures:
        """The rows of the ``start``-``end`` window (seconds, inclusive), as if the window were a clip.

        Rows are per-frame, so a window is a slice, with one correction: the first row's ``motion`` group
        (change from the previous frame) is zeroed and its ``motion_valid`` is 0, as when the window is
        extracted on its own. Frames keep the recording's sampling grid (``k / fps``), so they can sit up
        to half a sampling period from the grid ``start + i / fps`` of a separate extraction.
        """
        keep = np.flatnonzero((self.times >= start - 1e-6) & (self.times <= end + 1e-6))
        if max_frames is not None:
            keep = keep[:max_frames]
        seq = self.seq[keep].copy()
        if len(keep):
            for name, (a, b) in self.groups.items():
                if name == "motion" or name.endswith(".motion"):
                    seq[0, a:b] = 0.0
        mask = self.mask[keep].copy()
        return VideoFeatures(
            seq=seq, mask=mask, times=self.times[keep].copy(), groups=dict(self.groups),
            face_rate=float(mask.mean()) if len(keep) else 0.0, boxes=self.boxes[keep].copy(), source=self.source,
            timings={}, feature_names=list(self.feature_names),
        )

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
            VIDEO_EXTRACTORS.get(name)(getattr(self.config, name), fps=self.config.fps)
            for name in self.config.extractors
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

    def extract_windows(self, path: str | Path, spans: Sequence[Span]
                        ) -> Iterator[VideoFeatures | AvemotionError]:
        """Per span (sorted by start; see :func:`avemotion.features.windows.windows`): its features, or the
        error that stopped the video. One streaming pass: each frame's x_t is computed once
        (:meth:`iter_rows`), a window takes the rows of its frames (:meth:`VideoFeatures.window`) and only the
        rows of windows still in progress are kept. ``max_frames`` applies per window; the pass starts at the
        first window."""
        path = Path(path)
        rows: list[tuple[float, np.ndarray | None, Any]] = []
        stream = self.iter_rows(iter_frames(path, self.config.fps, start=spans[0][0] if spans else 0.0))
        exhausted = False
        error: AvemotionError | None = None
        for i, (start, end) in enumerate(spans):
            while not exhausted and error is None and (not rows or rows[-1][0] <= end + 1e-6):
                try:
                    rows.append(next(stream))
                except StopIteration:
                    exhausted = True
                except AvemotionError as exc:
                    error = exc
            if error is not None and not rows:
                yield error
                continue
            inside = [r for r in rows if start - 1e-6 <= r[0] <= end + 1e-6]
            if not inside:
                yield ZeroDuration(f"no video frames between {start:.2f} s and {end:.2f} s", path)
            else:
                empty = np.zeros(self.dim, np.float32)
                no_box = (0.0, 0.0, 0.0, 0.0)
                whole = VideoFeatures(
                    seq=np.stack([r[1] if r[1] is not None else empty for r in inside]),
                    mask=np.array([r[1] is not None for r in inside]),
                    times=np.array([r[0] for r in inside], np.float64), groups=dict(self.groups),
                    face_rate=0.0, boxes=np.array([r[2] if r[2] is not None else no_box for r in inside],
                                                  np.float32),
                    source=str(path), feature_names=list(self.feature_names),
                )
                yield whole.window(start, end, self.config.max_frames)
            if i + 1 < len(spans):  # keep only the rows later windows still need
                rows = [r for r in rows if r[0] >= spans[i + 1][0] - 1e-6]

    def extract_frames(self, frames: Iterable[VideoFrame], source: str | None = None) -> VideoFeatures:
        from avemotion.utils.quiet_mediapipe import native_stderr_silenced

        # MediaPipe's graph threads log start-up lines (C++, straight to fd 2) at unpredictable moments after
        # each per-clip restart: keep the native stream quiet while a clip is processed. Python errors are
        # exceptions and still reach the caller.
        with native_stderr_silenced():
            return self._extract_frames(frames, source)

    def _extract_frames(self, frames: Iterable[VideoFrame], source: str | None = None) -> VideoFeatures:
        times: list[float] = []
        vectors: list[np.ndarray | None] = []
        boxes_: list[tuple[float, float, float, float] | None] = []
        t_start = time.perf_counter()
        stats: dict[str, float] = {}
        for t, vector, box in self.iter_rows(frames, stats):
            times.append(t)
            vectors.append(vector)
            boxes_.append(box)
        total = time.perf_counter() - t_start
        n = len(times)
        seq = np.zeros((n, self.dim), np.float32)
        mask = np.zeros(n, bool)
        boxes = np.zeros((n, 4), np.float32)
        for i, (vector, box) in enumerate(zip(vectors, boxes_, strict=True)):
            if vector is not None:
                seq[i] = vector
                mask[i] = True
                if box is not None:
                    boxes[i] = box
        return VideoFeatures(
            seq=seq, mask=mask, times=np.asarray(times, np.float64), groups=dict(self.groups),
            face_rate=float(mask.mean()) if n else 0.0, boxes=boxes, source=source,
            timings={"decode": stats.get("decode", 0.0), "total": total, **self.step_timings()},
            feature_names=list(self.feature_names),
        )

    def step_timings(self) -> dict[str, float]:
        """Seconds per step (detection, mesh, geometry, cnn, ...) since the last clip started."""
        timings: dict[str, float] = {}
        for ext in self.extractors:
            timings.update(ext.timings())
        return timings

    def iter_rows(
        self, frames: Iterable[VideoFrame], stats: dict[str, float] | None = None
    ) -> Iterator[tuple[float, np.ndarray | None, tuple[float, float, float, float] | None]]:
        """Stream ``(time, x_t or None where no face, face box or None)`` per frame, in order, as the
        extractors complete them (at most one CNN batch behind the decoder). The rows of a whole clip are
        what :meth:`extract_frames` returns; a long recording can be consumed piece by piece (the timeline
        keeps only the rows of the windows in progress). Starts a new clip (extractor state is reset).
        ``stats["decode"]`` accumulates the seconds spent waiting for frames."""
        from avemotion.utils.quiet_mediapipe import native_stderr_silenced

        for ext in self.extractors:
            ext.reset()
            ext.reset_timings()
        stats = stats if stats is not None else {}
        stats.setdefault("decode", 0.0)
        queues: list[list[FrameRow]] = [[] for _ in self.extractors]
        times: list[float] = []  # times of frames fed but not yet yielded
        it: Iterator[VideoFrame] = iter(frames)
        limit = self.config.max_frames
        fed = 0

        def ready() -> Iterator[tuple[float, np.ndarray | None, tuple[float, float, float, float] | None]]:
            while times and all(queues):
                rows = [q.pop(0) for q in queues]
                t = times.pop(0)
                if any(r.vector is None for r in rows):
                    yield t, None, None
                    continue
                vector = np.concatenate([r.vector for r in rows]).astype(np.float32, copy=False)
                if not np.isfinite(vector).all():  # defensive: never hand NaN to the models
                    yield t, None, None
                    continue
                box = next((r.box for r in rows if r.box is not None), None)
                yield t, vector, box

        while limit is None or fed < limit:
            t0 = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                break
            stats["decode"] += time.perf_counter() - t0
            fed += 1
            times.append(frame.time)
            # MediaPipe's graph threads log start-up lines (C++, straight to fd 2) at unpredictable moments:
            # keep the native stream quiet while frames are processed. Python errors still reach the caller.
            with native_stderr_silenced():
                for q, ext in zip(queues, self.extractors, strict=True):
                    q.extend(ext.feed(frame))
            yield from ready()
        with native_stderr_silenced():
            for q, ext in zip(queues, self.extractors, strict=True):
                q.extend(ext.flush())
        yield from ready()
        if times:
            raise AssertionError("an extractor returned a wrong number of rows")
