"""The "face" per-frame video extractor: face finding -> geometry, pose, expression, CNN, motion.

Streaming interface used by :class:`avemotion.features.video.branch.VideoBranch`:
``feed(frame)`` returns the rows that are complete (the expression CNN runs on batches of ``cnn_batch`` (of
its section ``video.face``) aligned faces, so rows come out with a delay of at most one batch), ``flush()``
returns the rest at the end of a clip, ``reset()`` starts a new clip. A row is ``FrameRow(vector, box)`` with
``vector=None`` where no face was found. Memory held between calls is one CNN batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from avemotion.config import FaceConfig
from avemotion.features import VIDEO_EXTRACTORS
from avemotion.features.video import geometry as geo
from avemotion.features.video.base import FrameRow, VideoExtractor
from avemotion.features.video.face import FaceFinder
from avemotion.media import VideoFrame

HEAD_MOTION_NAMES: tuple[str, ...] = (
    "head_dx", "head_dy", "head_dscale", "head_droll", "amplitude", "motion_valid",
)


@dataclass
class _Pending:
    time: float
    static: np.ndarray | None  # geometry | pose | expression
    face64: np.ndarray | None  # aligned grey face for the CNN
    placement: dict[str, float] | None
    box: tuple[float, float, float, float] | None


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 64) -> np.ndarray:
    """Upright grey ``size`` x ``size`` face in FER2013 framing (anti-aliased when the face is large)."""
    m = geo.alignment_matrix(landmarks, size)
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    k = int(np.clip(np.ceil(1.0 / max(scale, 1e-6)), 1, 8))
    big = cv2.warpAffine(image, m * k, (size * k, size * k), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    if k > 1:
        big = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(big, cv2.COLOR_RGB2GRAY)


@VIDEO_EXTRACTORS.register("face")
class FaceFeatureExtractor(VideoExtractor):
    """Per-frame x_t from the main face.

    Groups: geometry, pose, expression, [cnn_probs, cnn_embedding], motion.
    """

    name = "face"
    config_type = FaceConfig

    def __init__(self, config: FaceConfig | None = None, fps: float = 15.0) -> None:
        super().__init__(config, fps)
        self.finder = FaceFinder(
            crop_scale=self.config.crop_scale,
            min_detection_confidence=self.config.min_detection_confidence,
            redetect_every=max(1, int(round(self.config.redetect_seconds * fps))),
            mesh_input_side=self.config.mesh_input_side,
        )
        self._cnn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
        self.use_cnn = self.config.expression_cnn
        sizes: list[tuple[str, int]] = [("geometry", geo.GEOMETRY_DIM), ("pose", len(geo.POSE_NAMES)),
                                        ("expression", geo.EXPRESSION_DIM)]
        if self.use_cnn:
            from avemotion.features.nets.expression_cnn import EMBEDDING_DIM, FER_CLASSES

            sizes += [("cnn_probs", len(FER_CLASSES)), ("cnn_embedding", EMBEDDING_DIM)]
        self._static_dim = geo.GEOMETRY_DIM + len(geo.POSE_NAMES) + geo.EXPRESSION_DIM
        self._n_probs = 7 if self.use_cnn else 0
        motion_dim = self._static_dim + self._n_probs + len(HEAD_MOTION_NAMES)
        sizes.append(("motion", motion_dim))
        self.groups: dict[str, tuple[int, int]] = {}
        start = 0
        for name, size in sizes:
            self.groups[name] = (start, start + size)
            start += size
        self._timings = {"geometry": 0.0, "cnn": 0.0}
        self.reset()

    # --- lifecycle ------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.finder.reset()
        self._pending: list[_Pending] = []
        # previous face frame: time, static features, CNN probabilities, placement
        self._prev: tuple[float, np.ndarray, np.ndarray, dict[str, float]] | None = None

    def close(self) -> None:
        self.finder.close()

    def timings(self) -> dict[str, float]:
        return {**self.finder.timings, **self._timings}

    def reset_timings(self) -> None:
        self._timings = {k: 0.0 for k in self._timings}
        self.finder.timings = {k: 0.0 for k in self.finder.timings}
        self.finder.counts = {k: 0 for k in self.finder.counts}

    def cnn(self) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        if self._cnn is None:
            from avemotion.features.nets.expression_cnn import ExpressionCNN

            self._cnn = ExpressionCNN(channels_last=True)
        return self._cnn

    @property
    def feature_names(self) -> list[str]:
        names = [f"{axis}{i}" for i in geo.GEOMETRY_POINTS for axis in ("x", "y")]
        names += list(geo.POSE_NAMES) + list(geo.EXPRESSION_NAMES)
        if self.use_cnn:
            from avemotion.features.nets.expression_cnn import EMBEDDING_DIM, FER_CLASSES

            names += [f"p_{c}" for c in FER_CLASSES] + [f"emb{i}" for i in range(EMBEDDING_DIM)]
            base = names[: self._static_dim] + [f"p_{c}" for c in FER_CLASSES]
        else:
            base = names[: self._static_dim]
        names += [f"d_{n}" for n in base] + list(HEAD_MOTION_NAMES)
        return names

    # --- streaming ------------------------------------------------------------------------------------
    def feed(self, frame: VideoFrame) -> list[FrameRow]:
        obs = self.finder.process(frame.image)
        if obs is None:
            self._pending.append(_Pending(frame.time, None, None, None, None))
        else:
            t0 = time.perf_counter()
            geometry, pose, expr, placement = geo.face_geometry(obs.landmarks)
            static = np.concatenate([geometry, pose, expr]).astype(np.float32)
            self._timings["geometry"] += time.perf_counter() - t0
            face64 = None
            if self.use_cnn:
                t0 = time.perf_counter()
                face64 = align_face(frame.image, obs.landmarks)
                self._timings["cnn"] += time.perf_counter() - t0
            self._pending.append(_Pending(frame.time, static, face64, placement, obs.box))
        if len(self._pending) >= self.config.cnn_batch:
            return self._drain()
        return []

    def flush(self) -> list[FrameRow]:
        return self._drain()

    def _drain(self) -> list[FrameRow]:
        pending, self._pending = self._pending, []
        probs = emb = None
        faces = [p.face64 for p in pending if p.face64 is not None]
        if self.use_cnn and faces:
            t0 = time.perf_counter()
            probs, emb = self.cnn()(np.stack(faces))
            self._timings["cnn"] += time.perf_counter() - t0
        rows: list[FrameRow] = []
        j = 0
        for p in pending:
            if p.static is None or p.placement is None:
                rows.append(FrameRow(p.time, None, None))
                self._prev = None
                continue
            parts = [p.static]
            cur_probs = np.zeros(0, np.float32)
            if self.use_cnn:
                assert probs is not None and emb is not None
                cur_probs = probs[j]
                parts += [probs[j], emb[j]]
                j += 1
            parts.append(self._motion(p.time, p.static, cur_probs, p.placement))
            rows.append(FrameRow(p.time, np.concatenate(parts).astype(np.float32), p.box))
            self._prev = (p.time, p.static, cur_probs, p.placement)
        return rows

    def _motion(self, t: float, static: np.ndarray, probs: np.ndarray, place: dict[str, float]) -> np.ndarray:
        """Per-second change from the previous frame; zeros (and motion_valid = 0) after a gap."""
        out = np.zeros(self._static_dim + self._n_probs + len(HEAD_MOTION_NAMES), np.float32)
        if self._prev is None:
            return out
        pt, pstatic, pprobs, pplace = self._prev
        dt = t - pt
        if dt <= 0:
            return out
        n = self._static_dim
        out[:n] = (static - pstatic) / dt
        out[n : n + self._n_probs] = (probs - pprobs) / dt
        iod = max(pplace["iod"], 1e-6)
        droll = np.angle(np.exp(1j * (place["roll"] - pplace["roll"])))
        g0, g1 = 0, geo.GEOMETRY_DIM
        disp = (static[g0:g1] - pstatic[g0:g1]).reshape(-1, 2)
        amplitude = float(np.sqrt(np.mean(np.sum(disp**2, axis=1)))) / dt
        out[n + self._n_probs :] = [
            (place["cx"] - pplace["cx"]) / iod / dt,
            (place["cy"] - pplace["cy"]) / iod / dt,
            np.log(max(place["iod"], 1e-6) / iod) / dt,
            droll / dt,
            amplitude,
            1.0,
        ]
        return out
