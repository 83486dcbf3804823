"""Per-frame motion tracks of a synthetic clip: expression timing, blinks and smooth random head motion.

Each is a 1-D array over the clip's frames, drawn from the caller's random generator (the draws' order is
part of the corpus's reproducibility); :class:`~avemotion.data.synthetic.face.FaceRig` renders a frame from
them.
"""

from __future__ import annotations

import numpy as np


def smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, the cubic ``3x^2 - 2x^3`` in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def expression_envelope(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Onset-apex-offset timing of the expression, 0..1 per frame."""
    dur = n_frames / fps
    t = np.arange(n_frames) / fps
    onset = rng.uniform(0.0, 0.3 * dur)
    rise = rng.uniform(0.25, 0.6)
    offset = rng.uniform(0.75 * dur, 1.2 * dur)
    fall = rng.uniform(0.3, 0.6)
    up = smoothstep((t - onset) / rise)
    down = 1.0 - smoothstep((t - offset) / fall)
    return up * down


def blink_track(n_frames: int, fps: float, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Eyelid closure 0..1 per frame: blinks as a Poisson process (about 150-250 ms each)."""
    closure = np.zeros(n_frames)
    t = rng.exponential(1.0 / max(rate, 1e-3)) * rng.uniform(0.2, 1.0)
    dur = n_frames / fps
    times = np.arange(n_frames) / fps
    while t < dur:
        length = rng.uniform(0.15, 0.25)
        phase = (times - t) / length
        shape = np.where((phase >= 0) & (phase <= 1), np.sin(np.pi * np.clip(phase, 0, 1)) ** 0.7, 0.0)
        closure = np.maximum(closure, shape)
        t += length + rng.exponential(1.0 / max(rate, 1e-3)) + 0.3
    return closure


def smooth_noise(n: int, fps: float, rng: np.random.Generator, hz: float = 0.7) -> np.ndarray:
    """Zero-mean, unit-SD random motion, band-limited to about ``hz``."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for _ in range(3):
        f = rng.uniform(0.3, 1.5) * hz
        out += rng.normal() * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return out / np.sqrt(1.5)
