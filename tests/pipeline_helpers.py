"""Small real-looking clips for pipeline tests: the scikit-image astronaut's face with a speech-like voice."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

from avemotion.media.write import write_media


def speechlike(seconds: float, sample_rate: int = 16000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """Harmonic voice with a pitch contour, syllable-rate amplitude modulation and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voice = sum((0.6 / k) * np.sin(k * phase) for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)), 0, None) ** 0.7
    out = 0.25 * voice * envelope + 0.003 * rng.normal(size=t.size)
    return out.astype(np.float32)


def face_frames(n: int, size: int = 160, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    img = data.astronaut()
    frames = []
    for i in range(n):
        dx, dy = 6 * np.sin(i / 5) + rng.normal(0, 1), 4 * np.cos(i / 7)
        x0, y0 = int(114 + dx), int(8 + dy)
        crop = img[y0 : y0 + 224, x0 : x0 + 224]
        frames.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return frames


def make_face_clip(path: Path, seconds: float = 1.5, fps: int = 15, seed: int = 0, f0: float = 140.0) -> Path:
    return write_media(path, face_frames(int(seconds * fps), seed=seed), fps=fps,
                       audio=speechlike(seconds, seed=seed, f0=f0), sample_rate=16000)


def make_noise_clip(path: Path, seconds: float = 1.5, fps: int = 15, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 255, (160, 160, 3), dtype=np.uint8) for _ in range(int(seconds * fps))]
    return write_media(path, frames, fps=fps, audio=speechlike(seconds, seed=seed), sample_rate=16000)
