"""Shared pieces of the audio extractors: the extractor interface, signal preparation and token-grid pooling.

Every extractor turns a prepared mono signal at its own sample rate into
- zero or more *streams*: time-resolved feature matrices ``(N, D)`` with the centre time of each row, at the
  extractor's native frame rate (MFCC 100/s, openSMILE LLDs 100/s, SoundNet conv7 about 0.67/s), and
- one clip-level vector.
The branch (:mod:`avemotion.features.audio.branch`) pools every stream onto one even token grid and splices.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from avemotion.config import Section
from avemotion.errors import ClipTooShort, SilentAudio

#: shortest clip the branch analyses (seconds); shorter ones raise ClipTooShort
MIN_DURATION = 0.2
#: a signal whose peak (after DC removal) is below one 16-bit quantisation step is digital silence
SILENCE_PEAK = 1.0 / 32768.0


@dataclass
class Stream:
    """A time-resolved feature matrix: ``values`` (N, D) with ``times`` (N,) the centre of each row (s)."""

    values: np.ndarray
    times: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        values = np.asarray(self.values, dtype=np.float32)
        self.values = values if values.ndim == 2 else values.reshape(len(self.times), -1)
        if self.values.shape[0] != self.times.shape[0]:
            rows, stamps = self.values.shape[0], self.times.shape[0]
            raise ValueError(f"stream {self.name!r}: {rows} rows but {stamps} times")


@dataclass
class ExtractorOutput:
    streams: list[Stream]
    vec: np.ndarray
    info: dict[str, object] = field(default_factory=dict)


class AudioExtractor(ABC):
    """One registered audio extractor. Subclasses set ``name``, ``config_type`` (the class of their section of
    the audio config, ``audio.<name>``) and ``sample_rate``.

    The columns an extractor contributes to the spliced sequence and clip vector form one feature group, which
    the branch names after the extractor (``AudioFeatures.seq_groups`` / ``vec_groups``). :meth:`feature_groups`
    declares the names its group may have in a store, so the data layer maps stored groups to extractors by
    asking the extractors (:func:`avemotion.features.audio.declared_groups`), not by parsing the names.
    """

    name: str = ""
    #: the extractor's settings: the section ``audio.<name>`` of the config
    config_type: ClassVar[type[Section]] = Section
    sample_rate: int = 16000
    #: other names this extractor's feature group has in stores written by other code (e.g. its set names)
    group_aliases: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def feature_groups(cls) -> tuple[str, ...]:
        """Names of the feature group this extractor's columns form: ``name`` (what the branch writes), then
        ``group_aliases``."""
        return (cls.name, *cls.group_aliases)

    def __init__(self, config: Any = None, sample_rate: int | None = None) -> None:
        """``config``: the extractor's section (default: its defaults); ``sample_rate``: the branch's decoding
        rate (``audio.sample_rate``), which extractors that resample to a rate of their own ignore."""
        self.config = config if config is not None else self.config_type()
        if not isinstance(self.config, self.config_type):
            raise TypeError(f"the {self.name} extractor takes a {self.config_type.__name__}, "
                            f"not a {type(self.config).__name__}")

    @abstractmethod
    def analyse(self, audio: np.ndarray) -> ExtractorOutput:
        """Features of a prepared mono float32 signal at ``self.sample_rate`` (finite, in [-1, 1])."""

    @property
    @abstractmethod
    def seq_dim(self) -> int:
        """Columns this extractor contributes to the spliced sequence."""

    @property
    @abstractmethod
    def vec_dim(self) -> int:
        """Columns this extractor contributes to the clip vector."""

    def close(self) -> None:  # noqa: B027 - optional hook: most extractors share process-wide models
        """Release what this instance holds natively (none of the built-in ones holds anything)."""


# --- signal preparation ---------------------------------------------------------------------------------
def to_mono(audio: np.ndarray) -> np.ndarray:
    """(N,), (C, N) or (N, C) -> (N,) float64; the channel axis is taken to be the shorter one."""
    x = np.asarray(audio)
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim == 2:
        axis = 0 if x.shape[0] <= x.shape[1] else 1
        x = x.mean(axis=axis)
    elif x.ndim > 2:
        raise ValueError(f"audio must be 1-D or 2-D (channels x samples), got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        x = x.astype(np.float64) / max(abs(info.min), info.max)
    return np.asarray(x, dtype=np.float64)


def condition(audio: np.ndarray, sample_rate: int, source: str | Path | None = None) -> np.ndarray:
    """Make any input safe to analyse: mono, finite, DC removed, clipped to [-1, 1], float32.

    Raises :class:`ClipTooShort` under :data:`MIN_DURATION` and :class:`SilentAudio` for digital silence.
    """
    x = to_mono(audio)
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    duration = x.size / float(sample_rate)
    if duration < MIN_DURATION:
        raise ClipTooShort(
            f"audio is {duration:.3f} s long; at least {MIN_DURATION} s is needed for the audio features "
            "(drop the clip or join it with its neighbours)",
            source or "<audio array>",
        )
    x = x - x.mean()  # DC offset
    np.clip(x, -1.0, 1.0, out=x)
    if float(np.max(np.abs(x))) < SILENCE_PEAK:
        raise SilentAudio(
            "audio is digitally silent (every sample equal, below one 16-bit step); check that the "
            "recording is not muted or that the right audio stream is used, or drop the clip",
            source or "<audio array>",
        )
    return x.astype(np.float32)


def resample(x: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy); identity when the rates agree."""
    if orig_rate == target_rate:
        return np.asarray(x, dtype=np.float32)
    g = math.gcd(int(orig_rate), int(target_rate))
    from scipy.signal import resample_poly  # scipy.signal costs ~0.5 s to import: only when resampling

    y = resample_poly(np.asarray(x, dtype=np.float64), target_rate // g, orig_rate // g)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def change_speed(x: np.ndarray, speed: float) -> np.ndarray:
    """``x`` played ``speed`` times as fast at the same sample rate (tempo and pitch together, as Kaldi's and
    sox's speed perturbation): band-limited resampling to ``len(x) / speed`` samples. ``speed`` is taken as a
    fraction with a denominator of at most 100 (1.1 -> 11/10), and the signal resampled as if from a rate of its
    numerator to one of its denominator."""
    from fractions import Fraction

    f = Fraction(speed).limit_denominator(100)
    return resample(x, f.numerator, f.denominator)


# --- token grid ----------------------------------------------------------------------------------------
def grid_length(duration: float, rate: float) -> int:
    """Number of tokens for a clip: ``ceil(duration * rate)`` (at least 1); token k covers [k, k+1) / rate."""
    return max(1, math.ceil(duration * rate - 1e-6))


def grid_times(n_tokens: int, rate: float) -> np.ndarray:
    """Centre time of each token (s)."""
    return (np.arange(n_tokens, dtype=np.float64) + 0.5) / rate


def pool_to_grid(values: np.ndarray, times: np.ndarray, rate: float, n_tokens: int) -> np.ndarray:
    """Put a time-resolved stream onto the token grid.

    Token k averages the rows whose centre time lies in [k, k+1) / rate (rows before 0 go to the first
    token, rows past the end to the last). A token no row falls in (a stream slower than the grid, such as
    SoundNet conv7) takes the linear interpolation of the stream at the token centre, held constant beyond
    the first and last rows.
    """
    values = np.asarray(values, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    n, d = values.shape
    out = np.zeros((n_tokens, d), dtype=np.float64)
    if n == 0:
        return out.astype(np.float32)
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    idx = np.clip(np.floor(times * rate).astype(np.int64), 0, n_tokens - 1)
    counts = np.bincount(idx, minlength=n_tokens)
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    out[idx[starts]] = np.add.reduceat(values, starts, axis=0)
    filled = counts > 0
    out[filled] /= counts[filled, None]
    empty = np.flatnonzero(~filled)
    if empty.size:
        centres = grid_times(n_tokens, rate)[empty]
        j = np.searchsorted(times, centres)
        i0 = np.clip(j - 1, 0, n - 1)
        i1 = np.clip(j, 0, n - 1)
        span = times[i1] - times[i0]
        w = np.where(span > 0, (centres - times[i0]) / np.where(span > 0, span, 1.0), 0.0)
        w = np.clip(w, 0.0, 1.0)[:, None]
        out[empty] = values[i0] * (1.0 - w) + values[i1] * w
    return out.astype(np.float32)


# --- mel filterbank (Slaney scale and area normalisation, librosa's default) ------------------------------
_F_SP = 200.0 / 3  # Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, np.float64)
    return np.where(hz >= _MIN_LOG_HZ, _MIN_LOG_MEL + np.log(np.maximum(hz, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP,
                    hz / _F_SP)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


@functools.lru_cache(maxsize=8)
def mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular mel filterbank, 0 Hz to Nyquist, Slaney scale and normalisation:
    ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)`` in numpy (tests compare the two), so
    neither the MFCC nor the Whisper extractor needs librosa at start-up. Read-only (cached)."""
    fft_hz = np.linspace(0.0, sample_rate / 2, 1 + n_fft // 2)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sample_rate / 2)), n_mels + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    fb = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    fb = fb.astype(np.float32)
    fb.setflags(write=False)
    return fb


def finite(x: np.ndarray) -> np.ndarray:
    """Last guard: float32 with NaN and +-inf -> 0 (a neutral value once features are standardised)."""
    return np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
