"""Is the visible face the one speaking? Lip movement in step with the voice's loudness.

The voice's loudness envelope (:func:`loudness_envelope`: RMS of 40-ms windows every 10 ms of the 16-kHz audio)
is read at the frame times of a face track, shifted by each lag of :data:`LAGS` (up to +-0.2 s: the audio of
speech trails or leads the visible mouth by up to about that much, and video and audio of a file may be off by
a frame or two), and correlated with the track's mouth opening over the segment (by default the absolute
frame-to-frame changes of both, the loudness square-rooted: :data:`MEASURE`); the score is the best Pearson
correlation over the lags as Fisher's z times sqrt(n - 3) (:func:`speaking_score`), so that a short segment
needs a stronger correlation than a long one. This is the correlation measure of audio-visual synchrony of
Hershey & Movellan (2000, "Audio Vision: Using Audio-Visual Synchrony to Locate Sounds") and Slaney & Covell
(2001, "FaceSync"), reduced to one visual feature (the inner-lip gap) and one audio feature (loudness).
A face whose score reaches :data:`SPEAKING_THRESHOLD` is judged to be speaking.

:data:`MEASURES` holds the variants compared in docs/experiments/2026-12-06-speaking-face.md (mouth opening vs
loudness, vs loudness in dB, and the absolute rates of change of both); :data:`MEASURE` and
:data:`SPEAKING_THRESHOLD` are the ones chosen there on the development speakers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from avemotion.media.audio import AudioSignal

ENVELOPE_RATE = 100.0  # envelope values per second
WINDOW = 0.04  # seconds of audio per envelope value
MAX_LAG = 0.2
LAGS = np.round(np.arange(-MAX_LAG, MAX_LAG + 1e-9, 0.04), 3)
MIN_FRAMES = 8  # fewer face frames in a segment: no decision (score None)
MIN_COVERAGE = 0.5  # share of the segment's frames that must show the face
#: a mouth opening whose standard deviation over the span is below this (inter-ocular distances) does not move:
#: score 0. FaceMesh's jitter on a still synthetic mouth is about 0.001; speaking mouths of the Javanese clips
#: move 0.02-0.1 from frame to frame.
MIN_MOVEMENT = 0.01


def loudness_envelope(audio: np.ndarray | AudioSignal, sample_rate: int = 16000, block: int = 1 << 20
                      ) -> np.ndarray:
    """RMS of :data:`WINDOW`-second windows centred every 1 / :data:`ENVELOPE_RATE` s (value ``i`` at time
    ``i / ENVELOPE_RATE``), as float32. The running sum of squares is accumulated ``block`` samples at a time
    (in float64, the running total carried into each block's first sample, so the values do not depend on
    ``block``) and read only at the window edges: beyond the audio itself, memory is a block's and the
    envelope's, flat in length."""
    x = audio if isinstance(audio, AudioSignal) else np.asarray(audio).reshape(-1)  # (a signal on disk: read by blocks)
    hop = int(round(sample_rate / ENVELOPE_RATE))
    half = int(round(WINDOW * sample_rate / 2))
    n = len(x) // hop + 1
    centres = np.arange(n) * hop
    lo = np.clip(centres - half, 0, len(x))
    hi = np.clip(centres + half, 0, len(x))
    width = np.maximum(hi - lo, 1)
    c_lo, c_hi = _running_sums(x, lo, block), _running_sums(x, hi, block)
    return np.sqrt(np.maximum(c_hi - c_lo, 0.0) / width).astype(np.float32)


def _running_sums(x: np.ndarray, at: np.ndarray, block: int) -> np.ndarray:
    """``c[at]`` for ``c = concatenate([[0], cumsum(x**2)])`` (float64, sorted ``at``), ``block`` samples at a
    time."""
    out = np.zeros(len(at))
    total = 0.0
    for a in range(0, len(x), block):
        sq = np.asarray(x[a:a + block], np.float64) ** 2
        sq[0] += total
        c = np.cumsum(sq)
        total = float(c[-1])
        i, j = np.searchsorted(at, a + 1, "left"), np.searchsorted(at, a + len(sq), "right")
        out[i:j] = c[at[i:j] - a - 1]
    return out


def envelope_at(envelope: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The envelope read at ``times`` (seconds; linear interpolation, held at the ends)."""
    grid = np.arange(len(envelope)) / ENVELOPE_RATE
    return np.interp(times, grid, envelope.astype(np.float64))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def _open_rms(mouth: np.ndarray, env: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return mouth, env


def _open_db(mouth: np.ndarray, env: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return mouth, 20 * np.log10(np.maximum(env, 1e-4))


def _velocity(mouth: np.ndarray, env: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.abs(np.diff(mouth)), np.abs(np.diff(env))


def _velocity_sqrt(mouth: np.ndarray, env: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.abs(np.diff(mouth)), np.abs(np.diff(np.sqrt(np.maximum(env, 0.0))))


#: name -> (mouth opening, envelope at the frame times) -> the two series correlated: the opening against the
#: loudness (RMS) or its level in dB, or the absolute frame-to-frame changes of the opening and of the RMS
#: (``velocity``) or of its square root (``velocity-sqrt``, a compressed loudness)
MEASURES: dict[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "open-rms": _open_rms, "open-db": _open_db, "velocity": _velocity, "velocity-sqrt": _velocity_sqrt,
}
MEASURE = "velocity-sqrt"
SPEAKING_THRESHOLD = 2.88


def speaking_score(times: np.ndarray, mouth: np.ndarray, envelope: np.ndarray, start: float, end: float,
                   fps: float, measure: str = MEASURE) -> float | None:
    """The best correlation ``r`` over :data:`LAGS` between the mouth opening at ``times`` (a face's frames in
    the segment ``[start, end]``), as the ``measure`` takes it, and the loudness ``envelope``
    (:func:`loudness_envelope`) at those times shifted by the lag, as Fisher's ``z = atanh(r) * sqrt(n - 3)``
    (``n`` the number of points correlated); None when the face shows in fewer than :data:`MIN_FRAMES` frames
    or in less than :data:`MIN_COVERAGE` of the segment's frames at ``fps``. A still mouth (its opening varies by
    less than :data:`MIN_MOVEMENT`) scores 0: correlating landmark jitter with a voice would be reading noise."""
    times = np.asarray(times, np.float64)
    mouth = np.asarray(mouth, np.float64)
    expected = max(1.0, (end - start) * fps)
    if len(times) < MIN_FRAMES or len(times) < MIN_COVERAGE * expected:
        return None
    if float(np.std(mouth)) < MIN_MOVEMENT:
        return 0.0
    pick = MEASURES[measure]
    best = -1.0
    n = len(times)
    for lag in LAGS:
        x, y = pick(mouth, envelope_at(envelope, times + lag))
        best = max(best, _pearson(x, y))
        n = len(x)
    # Fisher's z of the correlation times sqrt(n - 3): about standard normal for unrelated series of n points,
    # so one threshold means the same for a short segment as for a long one
    return float(np.arctanh(np.clip(best, -0.999, 0.999)) * np.sqrt(max(n - 3, 1)))


def is_speaking(score: float | None, threshold: float = SPEAKING_THRESHOLD) -> bool:
    """True when ``score`` reaches ``threshold`` (no score: not judged speaking)."""
    return score is not None and score >= threshold
