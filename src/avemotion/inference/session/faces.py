"""Face tracks through a recording: every face on camera followed on its own, frame by frame.

Frames are decoded streaming (:func:`avemotion.media.video.iter_frames`) at :data:`FACE_FPS` frames per second:
lip movement in speech follows the syllable rate, about 3-7 syllables a second, and mouth opening carries most of
its energy below about 6 Hz, so 15 samples a second (Nyquist 7.5 Hz) follows the opening and closing of each
syllable; it is also the rate the models' video branch samples (``video.fps``), so the expression CNN sees frames
as it did in training. Nothing but the current frame and one CNN batch of aligned faces is held, so memory
does not grow with the recording beyond the per-frame numbers kept for each track (a few hundred bytes per face
and frame: about 20 MB for an hour of one face).

Per frame (:class:`FaceTracker`): each live track is followed by its own FaceMesh graph (tracking mode) on a
square crop around its previous landmarks (:class:`~avemotion.features.video.face.FaceFinder`'s mesh stage);
every :data:`DETECT_SECONDS`, and whenever a track was not found, the full-range face detector runs on the whole
frame. A detection that overlaps a track (IoU >= :data:`MATCH_IOU`, or its centre within half a face of the
track's) belongs to that track (and re-finds it when its mesh failed); any other detection starts a new track
(up to :data:`MAX_FACES` at once). A track not seen for :data:`LOST_SECONDS` ends; a face that comes back later
gets a new id. Two tracks that end up on the same face (IoU > 0.5) are merged into the older one.

Kept per track and frame (:class:`~avemotion.inference.session.records.FaceTrack`): the time, the face box, the
mouth opening (inner-lip gap in inter-ocular distances, ``mouth_open`` of
:mod:`avemotion.features.video.geometry`) and the FER2013 expression CNN's seven class probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avemotion.features.video import geometry as geo
from avemotion.features.video.extractor import align_face
from avemotion.features.video.face import Detection, FaceFinder, iou
from avemotion.inference.session.records import FaceTrack
from avemotion.media.video import iter_frames
from avemotion.utils.progress import progress
from avemotion.utils.quiet_mediapipe import native_stderr_silenced

FACE_FPS = 15.0
DETECT_SECONDS = 0.5
LOST_SECONDS = 1.0
MAX_FACES = 4
MATCH_IOU = 0.3
CNN_BATCH = 64
_MOUTH = geo.EXPRESSION_NAMES.index("mouth_open")


@dataclass
class _Live:
    """A track being followed: its record, its own mesh graph, its last box and when it was last seen."""

    track: FaceTrack
    finder: FaceFinder
    box: tuple[float, float, float, float]
    last_seen: float
    seen_now: bool = False


@dataclass
class _Pending:
    track: FaceTrack
    index: int
    face64: np.ndarray


@dataclass
class FaceTracker:
    """Follows every face of a stream of frames (one recording, frames in time order); :meth:`finish` returns
    the tracks (frames of each in time order, tracks by id) and releases the graphs."""

    fps: float = FACE_FPS
    max_faces: int = MAX_FACES
    detect_seconds: float = DETECT_SECONDS
    lost_seconds: float = LOST_SECONDS
    crop_scale: float = 2.0
    min_detection_confidence: float = 0.5
    live: list[_Live] = field(default_factory=list)
    done: list[FaceTrack] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._detector = FaceFinder(crop_scale=self.crop_scale,
                                    min_detection_confidence=self.min_detection_confidence)
        self._detect_every = max(1, int(round(self.detect_seconds * self.fps)))
        self._frame = 0
        self._next_id = 1
        self._pending: list[_Pending] = []
        self._cnn = None

    # --- per frame ----------------------------------------------------------------------------------------
    def feed(self, time: float, image: np.ndarray) -> None:
        """Take the next frame (RGB uint8) at ``time`` seconds."""
        for lv in self.live:
            lv.seen_now = False
            lm = lv.finder.mesh(image, lv.box)
            if lm is not None:
                self._observe(lv, time, image, lm)
        missed = any(not lv.seen_now for lv in self.live)
        if not self.live or missed or self._frame % self._detect_every == 0:
            self._assign(self._detector.detect(image), time, image)
        self._merge_duplicates()
        for lv in list(self.live):
            if time - lv.last_seen > self.lost_seconds:
                self._end(lv)
        self._frame += 1
        if len(self._pending) >= CNN_BATCH:
            self._run_cnn()

    def finish(self) -> list[FaceTrack]:
        """End all tracks; returns every track with at least one frame, ordered by id number."""
        for lv in list(self.live):
            self._end(lv)
        self._run_cnn()
        self._detector.close()
        return sorted((t for t in self.done if len(t)), key=lambda t: int(t.id[1:]))

    def close(self) -> None:
        """Release the graphs without finishing (after an error)."""
        for lv in self.live:
            lv.finder.close()
        self.live = []
        self._detector.close()

    # --- internals ----------------------------------------------------------------------------------------
    def _observe(self, lv: _Live, time: float, image: np.ndarray, lm: np.ndarray) -> None:
        box = (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max()))
        try:
            pts, _, _, _ = geo.normalise(lm)
        except ValueError:  # degenerate landmarks: not a usable face this frame
            return
        mouth = float(geo.expression_measures(pts, lm)[_MOUTH])
        t = lv.track
        t.times.append(float(time))
        t.boxes.append(box)
        t.mouth.append(mouth)
        t.probabilities.append(np.full(7, np.nan, np.float32))
        self._pending.append(_Pending(t, len(t.times) - 1, align_face(image, lm)))
        lv.box, lv.last_seen, lv.seen_now = box, float(time), True

    def _assign(self, detections: list[Detection], time: float, image: np.ndarray) -> None:
        free = sorted(detections, key=lambda d: -d.score)
        for det in free:
            owner = self._owner(det)
            if owner is not None:
                if not owner.seen_now:  # its mesh lost the face: start again from the detection
                    lm = owner.finder.mesh(image, det.box)
                    if lm is not None:
                        self._observe(owner, time, image, lm)
                continue
            if len(self.live) >= self.max_faces:
                continue
            lv = _Live(FaceTrack(f"F{self._next_id}"), FaceFinder(crop_scale=self.crop_scale), det.box, time)
            with native_stderr_silenced():  # a new graph's first run logs start-up lines past sys.stderr
                lm = lv.finder.mesh(image, det.box)
            if lm is None:
                lv.finder.close()
                continue
            self._next_id += 1
            self.live.append(lv)
            self._observe(lv, time, image, lm)

    def _owner(self, det: Detection) -> _Live | None:
        best, best_score = None, 0.0
        for lv in self.live:
            overlap = iou(det.box, lv.box)
            cx, cy = (lv.box[0] + lv.box[2]) / 2, (lv.box[1] + lv.box[3]) / 2
            size = max(lv.box[2] - lv.box[0], lv.box[3] - lv.box[1], 1.0)
            near = np.hypot(det.centre[0] - cx, det.centre[1] - cy) < 0.5 * size
            score = max(overlap, 0.3 if near else 0.0)
            if score >= MATCH_IOU and score > best_score:
                best, best_score = lv, score
        return best

    def _merge_duplicates(self) -> None:
        for i, a in enumerate(self.live):
            for b in self.live[i + 1:]:
                if a.seen_now and b.seen_now and iou(a.box, b.box) > 0.5:
                    self._drop_last(b.track)  # b is younger: its frame duplicates a's
                    self._end(b)
                    return self._merge_duplicates()
        return None

    def _drop_last(self, track: FaceTrack) -> None:
        n = len(track.times) - 1
        self._pending = [p for p in self._pending if not (p.track is track and p.index == n)]
        for seq in (track.times, track.boxes, track.mouth, track.probabilities):
            seq.pop()

    def _end(self, lv: _Live) -> None:
        lv.finder.close()
        self.live.remove(lv)
        self.done.append(lv.track)

    def _run_cnn(self) -> None:
        if not self._pending:
            return
        if self._cnn is None:
            from avemotion.features.nets.expression_cnn import ExpressionCNN

            self._cnn = ExpressionCNN(channels_last=True)
        probs, _ = self._cnn(np.stack([p.face64 for p in self._pending]))
        for p, row in zip(self._pending, probs, strict=True):
            p.track.probabilities[p.index] = row
        self._pending = []


def track_faces(path: str | Path, fps: float = FACE_FPS, *, max_faces: int = MAX_FACES,
                duration: float | None = None, on_second: Callable[[float], None] | None = None) -> list[FaceTrack]:
    """Every face of the video ``path`` as a track (streaming decode at ``fps``; progress shown in seconds of
    video when ``duration`` is known; ``on_second(t)`` called about once a second of video with the time
    reached). Raises the media errors of :func:`~avemotion.media.video.iter_frames`."""
    path = Path(path)
    tracker = FaceTracker(fps=fps, max_faces=max_faces)
    bar = progress(total=round(duration, 1) if duration else None, desc=f"{path.name}: faces", unit="s")
    done = 0.0
    try:
        for frame in iter_frames(path, fps):
            tracker.feed(frame.time, frame.image)
            if frame.time - done >= 1.0:
                bar.update(round(frame.time - done, 1))
                done = frame.time
                if on_second is not None:
                    on_second(done)
    except BaseException:
        tracker.close()
        raise
    finally:
        bar.close()
    return tracker.finish()
