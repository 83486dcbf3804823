"""Synthetic test signals for the audio features (numpy only, deterministic)."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

# first three formants (Hz) of a few vowels
VOWELS = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240), "e": (530, 1840, 2480),
          "o": (570, 840, 2410)}


def speech_like(seconds: float, sample_rate: int = 16000, seed: int = 0, f0: float = 140.0) -> np.ndarray:
    """A crude vowel-sequence 'speech': a glottal pulse train with gliding pitch through changing formant
    resonators, a syllable-rate (about 4 Hz) envelope, short pauses and a little breath noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    pitch = f0 * (1.0 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = np.cumsum(pitch) / sample_rate
    pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
    source = lfilter([1.0], [1.0, -0.95], pulses)  # spectral tilt of the glottal source
    out = np.zeros(n)
    seg = int(0.2 * sample_rate)
    names = list(VOWELS)
    for start in range(0, n, seg):
        stop = min(n, start + seg)
        y = source[start:stop]
        for formant, bw in zip(VOWELS[names[rng.integers(len(names))]], (80, 100, 120), strict=True):
            r = np.exp(-np.pi * bw / sample_rate)
            theta = 2 * np.pi * formant / sample_rate
            y = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], y)
        out[start:stop] = y
    envelope = np.clip(np.sin(np.pi * ((t * 4.0) % 1.0)), 0, None) ** 0.7
    syllable_on = rng.random(int(np.ceil(seconds * 4)) + 1) > 0.15  # drop about one syllable in seven
    envelope *= syllable_on[np.minimum((t * 4).astype(int), int(seconds * 4))]
    x = out * envelope + 0.003 * rng.standard_normal(n)
    return (0.5 * x / (np.abs(x).max() + 1e-12)).astype(np.float32)


def tone(seconds: float, sample_rate: int = 16000, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, sample_rate: int = 16000, seed: int = 0, amp: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal(int(round(seconds * sample_rate)))).astype(np.float32)
