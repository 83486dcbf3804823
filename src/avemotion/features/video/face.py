"""Finding and following the main face: MediaPipe full-range detection + FaceMesh on a square crop.

FaceMesh's built-in detector is short-range and misses small faces (a 95 px face in a 720p frame: 0 of 150
frames), so faces are found in two stages:

1. ``FaceDetection(model_selection=1)`` (BlazeFace full range) on the whole frame gives face boxes;
2. a square crop of side ``crop_scale`` x the box around the chosen box (padded with black where it leaves
   the frame, downscaled to at most ``mesh_input_side`` px) goes to ``FaceMesh(refine_landmarks=True)``:
   478 landmarks (468 + 10 iris points), mapped back to frame pixels.

Tracking: once a face is meshed, the next frame's crop is centred on the previous landmarks' bounding box
(no detection). The detector runs again when tracking is lost (mesh fails on the tracked crop), and every
``redetect_every`` frames so that a new or larger face can take over. Main speaker: among the detections,
the highest score ``confidence * sqrt(area fraction) * (1 - 0.5 * distance of the centre from the frame
centre)``; a detection that overlaps the current track (IoU >= 0.3) keeps the track unless another one
scores ``switch_ratio`` times higher, so the choice is stable over time.

MediaPipe graphs are created lazily, one set per :class:`FaceFinder`, and released by :meth:`close`.
The detector runs in static mode; FaceMesh runs in its tracking mode on the re-centred crop (its internal
short-range detector then only runs when its own tracking is lost, which is cheaper than static mode).
:meth:`reset` restarts the mesh graph at the start of each clip, so a clip's result depends only on its
frames: runs are deterministic.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

N_LANDMARKS = 478


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    score: float

    @property
    def size(self) -> float:
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


@dataclass(frozen=True)
class FaceObservation:
    landmarks: np.ndarray  # (478, 3) float32: x, y in frame pixels, z in the same pixel scale
    box: tuple[float, float, float, float]  # landmarks' bounding box in frame pixels
    detected: bool  # True when this frame's crop came from a fresh detection (False: tracked)
    detection_score: float  # score of the detection that started / refreshed the track


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def speaker_score(det: Detection, width: int, height: int) -> float:
    area = (det.box[2] - det.box[0]) * (det.box[3] - det.box[1]) / float(width * height)
    cx, cy = det.centre
    dist = np.hypot((cx - width / 2) / (width / 2), (cy - height / 2) / (height / 2)) / np.sqrt(2)
    return float(det.score * np.sqrt(max(area, 0.0)) * (1.0 - 0.5 * min(dist, 1.0)))


def choose_main(
    detections: list[Detection], width: int, height: int,
    track_box: tuple[float, float, float, float] | None = None, switch_ratio: float = 1.5,
) -> Detection | None:
    """The main speaker among ``detections``; sticky to the one overlapping ``track_box``."""
    if not detections:
        return None
    scored = sorted(((speaker_score(d, width, height), i, d) for i, d in enumerate(detections)),
                    key=lambda s: (-s[0], s[1]))
    best_score, _, best = scored[0]
    if track_box is not None:
        overlaps = [(iou(d.box, track_box), s, d) for s, _, d in scored]
        ov, s_cur, current = max(overlaps, key=lambda o: o[0])
        if ov >= 0.3 and best_score < switch_ratio * s_cur:
            return current
    return best


class FaceFinder:
    """Per-clip stateful face finder. Call :meth:`reset` between clips, :meth:`close` when done."""

    def __init__(
        self,
        crop_scale: float = 2.0,
        min_detection_confidence: float = 0.5,
        redetect_every: int = 15,
        mesh_input_side: int = 256,
        switch_ratio: float = 1.5,
    ) -> None:
        self.crop_scale = crop_scale
        self.min_detection_confidence = min_detection_confidence
        self.redetect_every = max(1, int(redetect_every))
        self.mesh_input_side = mesh_input_side
        self.switch_ratio = switch_ratio
        self._detector: Any = None
        self._mesh: Any = None
        self.timings = {"detection": 0.0, "mesh": 0.0}
        self.counts = {"detection": 0, "mesh": 0}
        self.reset()

    # --- lifecycle ------------------------------------------------------------------------------------
    def _graphs(self) -> tuple[Any, Any]:
        if self._detector is None:
            from avemotion.utils.quiet_mediapipe import import_mediapipe, native_stderr_silenced

            with warnings.catch_warnings(), native_stderr_silenced():
                warnings.simplefilter("ignore")  # protobuf deprecation chatter from mediapipe
                mp = import_mediapipe()

                self._detector = mp.solutions.face_detection.FaceDetection(
                    model_selection=1, min_detection_confidence=self.min_detection_confidence
                )
                # tracking mode: the crop is re-centred on the face every frame, so the mesh's own ROI
                # from the previous frame stays valid and its internal detector only runs when lost
                self._mesh = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                    min_detection_confidence=0.5, min_tracking_confidence=0.5,
                )
                # warm-up on a blank frame: the graphs log their start-up messages on the first call
                blank = np.zeros((64, 64, 3), np.uint8)
                self._detector.process(blank)
                self._mesh.process(blank)
                self._mesh.reset()
        return self._detector, self._mesh

    def close(self) -> None:
        for obj in (self._detector, self._mesh):
            if obj is not None:
                obj.close()
        self._detector = self._mesh = None

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget the track (new clip). The mesh graph restarts too, so each clip is processed alike."""
        if self._mesh is not None:
            from avemotion.utils.quiet_mediapipe import native_stderr_silenced

            with native_stderr_silenced():  # the restarted graph logs while its nodes open: wait for that
                self._mesh.reset()
                self._mesh._graph.wait_until_idle()
        self._track_box: tuple[float, float, float, float] | None = None
        self._track_score = 0.0
        self._since_detect = 0

    # --- stages ----------------------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Full-range BlazeFace on an RGB uint8 frame: boxes in pixels, clipped to the frame."""
        import time

        detector, _ = self._graphs()
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = detector.process(image)
        self.timings["detection"] += time.perf_counter() - t0
        self.counts["detection"] += 1
        out = []
        for det in result.detections or []:
            b = det.location_data.relative_bounding_box
            x0, y0 = max(0.0, b.xmin * w), max(0.0, b.ymin * h)
            x1, y1 = min(float(w), (b.xmin + b.width) * w), min(float(h), (b.ymin + b.height) * h)
            if x1 - x0 > 4 and y1 - y0 > 4:
                out.append(Detection((x0, y0, x1, y1), float(det.score[0])))
        return out

    def mesh(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """FaceMesh on the square crop around ``box``: (478, 3) landmarks in frame pixels, or None."""
        import time

        _, mesh = self._graphs()
        crop, (cx0, cy0, side) = square_crop(image, box, self.crop_scale, self.mesh_input_side)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = mesh.process(crop)
        self.timings["mesh"] += time.perf_counter() - t0
        self.counts["mesh"] += 1
        if not result.multi_face_landmarks:
            return None
        lm = landmark_array(result.multi_face_landmarks[0])
        lm[:, 0] = cx0 + lm[:, 0] * side
        lm[:, 1] = cy0 + lm[:, 1] * side
        lm[:, 2] = lm[:, 2] * side
        return lm.astype(np.float32)

    # --- per frame -------------------------------------------------------------------------------------
    def process(self, image: np.ndarray) -> FaceObservation | None:
        """Find the main face in one RGB frame (frames of one clip must come in order)."""
        h, w = image.shape[:2]
        detected = False
        if self._track_box is None:
            if not self._redetect(image, w, h):
                return None
            detected = True
        elif self._since_detect >= self.redetect_every:
            # periodic check for a new main face; when the detector sees nothing (e.g. a turned head the
            # mesh still follows) the track is kept and the mesh decides
            detected = self._redetect(image, w, h, keep_track=True)
        assert self._track_box is not None
        lm = self.mesh(image, self._track_box)
        if lm is None and not detected:
            # tracking lost: detect again in this frame and retry once
            if self._redetect(image, w, h):
                detected = True
                lm = self.mesh(image, self._track_box)
        if lm is None:
            self._track_box = None
            return None
        self._since_detect += 1
        box = (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max()))
        self._track_box = box
        return FaceObservation(lm, box, detected, self._track_score)

    def _redetect(self, image: np.ndarray, w: int, h: int, keep_track: bool = False) -> bool:
        dets = self.detect(image)
        self._since_detect = 0
        main = choose_main(dets, w, h, self._track_box, self.switch_ratio)
        if main is None:
            if not keep_track:
                self._track_box = None
            return False
        self._track_box = main.box
        self._track_score = main.score
        return True


# A NormalizedLandmarkList's wire format when every landmark has x, y, z (all non-zero) and nothing else:
# per landmark, field 1 (tag 0x0a) of 15 bytes = x (0x0d), y (0x15), z (0x1d) as little-endian float32.
_LANDMARK_WIRE = np.dtype([("tag", "u1"), ("size", "u1"), ("tx", "u1"), ("x", "<f4"), ("ty", "u1"), ("y", "<f4"),
                           ("tz", "u1"), ("z", "<f4")])
_LANDMARK_TAGS = {"tag": 0x0A, "size": 15, "tx": 0x0D, "ty": 0x15, "tz": 0x1D}


def landmark_array(landmarks: Any) -> np.ndarray:
    """(n, 3) float64 x, y, z of a MediaPipe ``NormalizedLandmarkList``.

    Read from the message's serialised bytes in one step (several times faster than reading 478 Python
    objects); a message in any other layout (a zero coordinate left out, visibility present) is read point by
    point. Both give the same numbers.
    """
    data = landmarks.SerializeToString()
    if data and len(data) % _LANDMARK_WIRE.itemsize == 0:
        wire = np.frombuffer(data, _LANDMARK_WIRE)
        if all((wire[name] == value).all() for name, value in _LANDMARK_TAGS.items()):
            return np.stack([wire["x"], wire["y"], wire["z"]], axis=1).astype(np.float64)
    return np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float64).reshape(-1, 3)


def square_crop(
    image: np.ndarray, box: tuple[float, float, float, float], scale: float, max_side: int | None = None
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Square crop of side ``scale * max(box w, h)`` centred on the box, black outside the frame.

    With ``max_side``, larger crops are resampled to ``max_side`` px in the same step (one bilinear
    ``warpAffine``, as MediaPipe's own ImageToTensor resampling does). Returns the crop and ``(x0, y0,
    side)``: its top-left corner and side in frame pixels.
    """
    h, w = image.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(8, int(round(scale * max(box[2] - box[0], box[3] - box[1]))))
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    if max_side is not None and side > max_side:
        s = max_side / side
        # pixel-centre convention: output pixel j samples source (j + 0.5) / s - 0.5 + x0
        m = np.array([[s, 0.0, (0.5 - x0) * s - 0.5], [0.0, s, (0.5 - y0) * s - 0.5]])
        crop = cv2.warpAffine(image, m, (max_side, max_side), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        return crop, (x0, y0, side)
    x1, y1 = x0 + side, y0 + side
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if sx0 == x0 and sy0 == y0 and sx1 == x1 and sy1 == y1:
        return np.ascontiguousarray(image[y0:y1, x0:x1]), (x0, y0, side)
    crop = np.zeros((side, side, 3), dtype=image.dtype)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return crop, (x0, y0, side)
