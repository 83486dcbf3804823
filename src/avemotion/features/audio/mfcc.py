"""MFCC (paper eqs. 1-4): framing + Hamming window + FFT, 40 triangular mel filters, natural log, DCT.

Frame-level sequence: the ``n_mfcc`` cepstral coefficients (c0 included) plus deltas and delta-deltas
(``deltas``), one row per 10 ms hop, centred frames. Clip-level vector: mean, standard deviation,
minimum and maximum of every column over the clip.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft

from avemotion.config import MfccConfig
from avemotion.features import AUDIO_EXTRACTORS
from avemotion.features.audio.common import AudioExtractor, ExtractorOutput, Stream, finite, mel_filters

#: dynamic range kept below the loudest mel band before the log (like librosa's top_db=80)
DYNAMIC_RANGE = 1e-8
STATISTICS = ("mean", "std", "min", "max")


def mfcc_frames(audio: np.ndarray, sample_rate: int, config: MfccConfig) -> tuple[np.ndarray, np.ndarray]:
    """(n_frames, n_mfcc * (1 + deltas)) float32 and the frame centre times (s)."""
    win = max(2, int(round(config.frame_ms * sample_rate / 1000.0)))
    hop = max(1, int(round(config.hop_ms * sample_rate / 1000.0)))
    n_fft = 1 << (win - 1).bit_length()  # next power of two >= window (400 -> 512 at 16 kHz)
    # eq. 1: FFT of Hamming-windowed frames, centred (zero padding); eq. 2: |a_k^f|^2 through the mel filters
    spec = _stft(np.asarray(audio, dtype=np.float32), n_fft, hop, win)
    power = spec.real**2 + spec.imag**2
    mel = mel_filters(sample_rate, n_fft, config.n_mels) @ power
    # eq. 3: natural log, floored relative to the loudest value (silence must not give -inf)
    floor = max(float(mel.max()) * DYNAMIC_RANGE, 1e-12)
    log_mel = np.log(np.maximum(mel, floor))
    # eq. 4: DCT-II over the filter outputs
    ceps = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=0)[: config.n_mfcc]
    parts = [ceps]
    from scipy.signal import savgol_filter  # deltas: a Savitzky-Golay derivative (librosa.feature.delta's)

    n = ceps.shape[1]
    width = min(9, n if n % 2 else n - 1)
    for order in range(1, config.deltas + 1):
        if width >= 3:
            parts.append(savgol_filter(ceps, width, order, deriv=order, axis=1, mode="interp"))
        else:
            parts.append(np.zeros_like(ceps))
    feats = np.concatenate(parts, axis=0).T
    times = np.arange(n, dtype=np.float64) * hop / sample_rate
    return finite(feats), times


@functools.lru_cache(maxsize=8)
def _window(win: int, n_fft: int) -> np.ndarray:
    """Periodic Hamming window of ``win`` samples, zero-padded on both sides to ``n_fft`` (float64)."""
    from scipy.signal import get_window

    w = get_window("hamming", win, fftbins=True)
    left = (n_fft - win) // 2
    w = np.pad(w, (left, n_fft - win - left))
    w.setflags(write=False)
    return w


def _stft(audio: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """(n_fft // 2 + 1, n_frames) complex64 STFT of centred frames (``n_fft // 2`` zeros on each side), one
    frame every ``hop`` samples: ``librosa.stft(..., window="hamming", center=True, pad_mode="constant")``
    computed the same way (float64 FFT of the windowed float32 frames, stored as complex64)."""
    padded = np.pad(audio, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(_window(win, n_fft) * frames, axis=1).astype(np.complex64).T


@AUDIO_EXTRACTORS.register("mfcc")
class MfccExtractor(AudioExtractor):
    name = "mfcc"
    config_type = MfccConfig

    def __init__(self, config: MfccConfig | None = None, sample_rate: int | None = None) -> None:
        super().__init__(config, sample_rate)
        self.sample_rate = sample_rate or type(self).sample_rate

    @property
    def seq_dim(self) -> int:
        return self.config.n_mfcc * (1 + self.config.deltas)

    @property
    def vec_dim(self) -> int:
        return self.seq_dim * len(STATISTICS)

    def analyse(self, audio: np.ndarray) -> ExtractorOutput:
        feats, times = mfcc_frames(audio, self.sample_rate, self.config)
        vec = np.concatenate([feats.mean(0), feats.std(0), feats.min(0), feats.max(0)])
        return ExtractorOutput([Stream(feats, times, "mfcc")], finite(vec), {"frames": len(times)})
