"""Video decoding as an iterator of RGB frames sampled at a requested frame rate.

Frames are chosen by their presentation timestamps, so variable-frame-rate sources come out on an even
grid (nearest source frame to each grid time). Only the frames that are emitted are converted to RGB, and
nothing is kept beyond the previous frame, so memory does not grow with the length of the recording.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avemotion.errors import NoVideoStream, ZeroDuration
from avemotion.media.container import decode_error, open_media

DEFAULT_FPS = 15.0


@dataclass(frozen=True)
class VideoFrame:
    index: int  # position on the output grid
    time: float  # grid time in seconds: start + index / fps
    source_time: float  # timestamp of the decoded frame that was chosen
    image: np.ndarray  # (H, W, 3) uint8 RGB


def iter_frames(
    path: str | Path,
    fps: float | None = DEFAULT_FPS,
    *,
    start: float = 0.0,
    end: float | None = None,
    max_frames: int | None = None,
    max_side: int | None = None,
) -> Iterator[VideoFrame]:
    """Yield RGB frames of the first video stream at ``fps`` (``None``: every source frame).

    ``start``/``end`` (seconds) select a window; ``max_frames`` caps the count; ``max_side`` downscales
    frames whose longer side exceeds it (keeps aspect ratio).
    """
    path = Path(path)
    emitted = 0
    with open_media(path) as container:
        if not container.streams.video:
            raise NoVideoStream(path=path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 1000)
        avg = stream.average_rate or stream.guessed_rate or stream.base_rate
        default_step = float(1 / Fraction(avg)) if avg else 1 / 30
        if start > 0:
            container.seek(int(start / time_base), stream=stream, backward=True, any_frame=False)

        def convert(frame: av.VideoFrame) -> np.ndarray:
            width, height = frame.width, frame.height
            if max_side is not None and max(width, height) > max_side:
                scale = max_side / max(width, height)
                width = max(2, int(round(width * scale / 2)) * 2)
                height = max(2, int(round(height * scale / 2)) * 2)
                return frame.to_ndarray(format="rgb24", width=width, height=height)
            return frame.to_ndarray(format="rgb24")

        prev: tuple[float, av.VideoFrame] | None = None
        next_index = 0
        last_time = -1.0
        try:
            for frame in container.decode(stream):
                t = _frame_time(frame, time_base, last_time, default_step)
                last_time = t
                if t < start - 1e-6 and fps is not None:
                    prev = (t, frame)
                    continue
                if end is not None and t > end + 1e-6:
                    break
                if fps is None:
                    yield VideoFrame(next_index, t, t, convert(frame))
                    next_index += 1
                    emitted += 1
                    if max_frames is not None and emitted >= max_frames:
                        return
                    continue
                while True:
                    target = start + next_index / fps
                    if end is not None and target > end + 1e-9:
                        return
                    if target > t:
                        break
                    # target is in (prev.t, t]: take whichever is nearer (ties to the earlier frame)
                    if prev is not None and prev[0] <= target and target - prev[0] <= t - target:
                        chosen_t, chosen = prev
                    else:
                        chosen_t, chosen = t, frame
                    yield VideoFrame(next_index, target, chosen_t, convert(chosen))
                    next_index += 1
                    emitted += 1
                    if max_frames is not None and emitted >= max_frames:
                        return
                prev = (t, frame)
        except av.error.FFmpegError as exc:
            if emitted == 0 and prev is None:
                raise decode_error(path, exc) from None
            # a damaged tail: stop at the last good frame
        if fps is not None and prev is not None:
            # flush grid times covered by the last frame's display duration
            last_t, last_frame = prev
            duration = float(last_frame.duration * time_base) if last_frame.duration else default_step
            while max_frames is None or emitted < max_frames:
                target = start + next_index / fps
                if target >= last_t + duration - 1e-6 or (end is not None and target > end + 1e-9):
                    break
                if target < last_t - 1e-6:  # nothing decoded after this target: only possible after an early break
                    break
                yield VideoFrame(next_index, target, last_t, convert(last_frame))
                next_index += 1
                emitted += 1
    if emitted == 0:
        raise ZeroDuration("video stream has zero duration (no decodable frames)", path)


def read_frames(path: str | Path, fps: float | None = DEFAULT_FPS, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
    """All frames at once as ``(frames (N,H,W,3) uint8, times (N,))`` — for short clips only."""
    frames, times = [], []
    for f in iter_frames(path, fps, **kwargs):  # type: ignore[arg-type]
        frames.append(f.image)
        times.append(f.time)
    return np.stack(frames), np.asarray(times, dtype=np.float64)


def _frame_time(frame: av.VideoFrame, time_base: Fraction, last: float, step: float) -> float:
    if frame.pts is not None:
        return float(frame.pts * time_base)
    if frame.time is not None:
        return float(frame.time)
    return last + step if last >= 0 else 0.0
