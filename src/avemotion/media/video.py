"""Video decoding as an iterator of RGB frames sampled at a requested frame rate.

Frames are chosen by their presentation timestamps, so variable-frame-rate sources come out on an even
grid (nearest source frame to each grid time). Only the frames that are emitted are converted to RGB, and
nothing is kept beyond the previous frame, so memory does not grow with the length of the recording.

Decoding follows the grid too: packets are read a little ahead of the decoder (:data:`LOOKAHEAD` packets),
so each frame's neighbours in display order are known, and a frame that no grid time can pick is decoded
with ``skip_frame = "NONREF"``: the decoder drops it if no other frame refers to it (B-frames, typically)
and decodes it anyway if it is a reference frame. The frames emitted are those a full decode gives; at
15 fps from a 30 fps H.264 source with 2 B-frames, about a third of the frames are never decoded. Decoders
that ignore ``skip_frame`` decode everything.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avemotion.errors import NoVideoStream, ZeroDuration
from avemotion.media.container import decode_error, open_media

DEFAULT_FPS = 15.0
LOOKAHEAD = 24  # packets demuxed ahead of the decoder: more than the deepest frame reordering (H.264: 16)
# FFmpeg codec threads for video. Frame threads ("AUTO") decode ahead on an idle core while the branch works on
# the previous frame: less wall time for the same CPU time than one thread (None); figures in
# docs/experiments/2026-12-06-video-and-timeline-speed.md.
THREAD_TYPE: str | None = "AUTO"


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
        if THREAD_TYPE is not None:
            stream.thread_type = THREAD_TYPE
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
            grid = _Grid(start, fps, end) if fps is not None else None
            for frame in _decode(container, stream, grid):
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


@dataclass(frozen=True)
class _Grid:
    """The output grid ``start + k / fps`` (k >= 0, up to ``end``)."""

    start: float
    fps: float
    end: float | None

    def hits(self, lo: float, hi: float) -> bool:
        """True when a grid time lies in ``(lo, hi]``."""
        k = max(0, math.floor((lo - self.start) * self.fps))
        while k > 0 and self.start + (k - 1) / self.fps > lo:
            k -= 1
        while self.start + k / self.fps <= lo:
            k += 1
        t = self.start + k / self.fps
        return t <= hi and (self.end is None or t <= self.end + 1e-9)


def _decode(
    container: av.container.InputContainer, stream: av.VideoStream, grid: _Grid | None
) -> Iterator[av.VideoFrame]:
    """The stream's frames in display order, less the non-reference frames that no time of ``grid`` picks.

    A frame at ``t`` between its display neighbours ``p`` and ``n`` is picked by the grid times in
    ``((p + t) / 2, (t + n) / 2]`` (nearest frame, ties to the earlier); it is decoded normally when a grid
    time falls in that range widened by 1/16 of the gaps (timestamp rounding), else with ``skip_frame = "NONREF"``.
    A neighbour not yet seen (first/last frames, reordering deeper than :data:`LOOKAHEAD`) widens the range
    to that side without bound.

    This needs packet timestamps in display order. Nothing is skipped until a packet's pts is lower than an
    earlier packet's (the container stores real presentation times of reordered frames: mp4, mkv, ...; an
    AVI's are made up from the decoding order), and skipping stops for the rest of the stream at the first
    packet without a timestamp, and at the first decoded frame whose timestamp is not one of the packets' or
    not above the previous frame's.
    """
    if grid is None:
        yield from container.decode(stream)
        return
    codec = stream.codec_context
    time_base = stream.time_base or Fraction(1, 1000)
    pending: deque[av.Packet] = deque()
    known: list[int] = []  # sorted pts of the recent packets that carry a frame to show
    submitted: set[int] = set()  # pts handed to the decoder and not yet seen on a frame
    skipping = True  # False for good once the timestamps are found unusable
    reordered = False  # a packet's pts was below an earlier one's
    top: int | None = None  # highest packet pts so far
    last_out: int | None = None  # pts of the last decoded frame
    mode = codec.skip_frame

    def needed(packet: av.Packet) -> bool:
        pts = packet.pts
        if pts is None or packet.is_discard:
            return True
        i, j = bisect.bisect_left(known, pts), bisect.bisect_right(known, pts)
        if i == 0 or j >= len(known) or j - i > 1:  # first / last seen, or a duplicate timestamp
            return True
        prev, nxt = known[i - 1], known[j]
        lo, hi = (prev + pts) / 2 - (pts - prev) / 16, (pts + nxt) / 2 + (nxt - pts) / 16
        return grid.hits(float(lo * time_base), float(hi * time_base))

    def decode(packet: av.Packet) -> list[av.VideoFrame]:
        nonlocal mode, skipping, last_out
        want = "NONREF" if skipping and reordered and not needed(packet) else "DEFAULT"
        if want != mode:
            codec.skip_frame = want
            mode = want
        if packet.pts is not None and not packet.is_discard:
            submitted.add(packet.pts)
        frames = codec.decode(packet)
        for frame in frames:
            in_order = frame.pts is not None and (last_out is None or frame.pts > last_out)
            if not in_order or frame.pts not in submitted:
                skipping = False
            else:
                submitted.discard(frame.pts)
            last_out = frame.pts
        if len(submitted) > 4 * LOOKAHEAD and frames and frames[-1].pts is not None:
            # frames come out in display order: pts below the last shown one were skipped
            last = frames[-1].pts
            submitted.difference_update([p for p in submitted if p < last])
        return frames

    for packet in container.demux(stream):
        if packet.pts is None and packet.size:
            skipping = False
        elif packet.pts is not None and not packet.is_discard:
            reordered = reordered or (top is not None and packet.pts < top)
            top = packet.pts if top is None else max(top, packet.pts)
            bisect.insort(known, packet.pts)
            if len(known) > 8 * LOOKAHEAD:
                del known[: 4 * LOOKAHEAD]
        pending.append(packet)
        while len(pending) > LOOKAHEAD:
            yield from decode(pending.popleft())
    while pending:
        yield from decode(pending.popleft())


def _frame_time(frame: av.VideoFrame, time_base: Fraction, last: float, step: float) -> float:
    if frame.pts is not None:
        return float(frame.pts * time_base)
    if frame.time is not None:
        return float(frame.time)
    return last + step if last >= 0 else 0.0
