"""Synthetic face videos for the video-feature tests, built from scikit-image's astronaut photo."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from avemotion.media.write import write_media

#: the astronaut's face (Eileen Collins) with some margin: rows, cols of the 512x512 photo
FACE_ROWS, FACE_COLS = slice(30, 230), slice(125, 325)


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut())


def face_patch(size: int) -> np.ndarray:
    """The astronaut's face region resized to ``size`` x ``size`` (the face is about half of it)."""
    patch = astronaut()[FACE_ROWS, FACE_COLS]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def canvas(height: int = 360, width: int = 480, seed: int = 0) -> np.ndarray:
    """A textured grey background (not flat, so the encoder and detector see something realistic)."""
    rng = np.random.default_rng(seed)
    base = np.full((height, width, 3), 90, np.uint8)
    noise = cv2.GaussianBlur(rng.integers(0, 60, (height, width, 1), dtype=np.uint8).repeat(3, 2), (9, 9), 3)
    return cv2.add(base, noise)


def paste(frame: np.ndarray, patch: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """Paste ``patch`` centred at (cx, cy), clipped to the frame."""
    h, w = frame.shape[:2]
    ph, pw = patch.shape[:2]
    x0, y0 = int(round(cx - pw / 2)), int(round(cy - ph / 2))
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(w, x0 + pw), min(h, y0 + ph)
    if fx1 > fx0 and fy1 > fy0:
        frame[fy0:fy1, fx0:fx1] = patch[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return frame


def moving_face_frames(n: int = 24) -> list[np.ndarray]:
    """The face translates left to right and grows from 150 to 230 px."""
    frames = []
    for i in range(n):
        a = i / max(n - 1, 1)
        size = int(150 + 80 * a)
        frames.append(paste(canvas(), face_patch(size), 150 + 180 * a, 180 + 10 * np.sin(6 * a)))
    return frames


def leaving_face_frames(n: int = 24) -> list[np.ndarray]:
    """The face slides out through the right edge; the last third of the frames has no face at all."""
    frames = []
    for i in range(n):
        cx = 240 + (480 + 200 - 240) * min(1.0, i / (2 * n / 3))
        frames.append(paste(canvas(), face_patch(180), cx, 180))
    return frames


def two_face_frames(n: int = 24) -> list[np.ndarray]:
    """A large face (main speaker) on the left and a smaller one on the right, both drifting a little."""
    frames = []
    for i in range(n):
        frame = canvas(360, 640)
        paste(frame, face_patch(200), 190 + 8 * np.sin(i / 3), 180)
        paste(frame, face_patch(130), 480 + 8 * np.cos(i / 3), 170)
        frames.append(frame)
    return frames


def noise_frames(n: int = 20, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(n)]


def write_clip(path: Path, frames: Iterable[np.ndarray], fps: float = 15.0) -> Path:
    return write_media(path, frames, fps=fps, crf=18)
