"""Audio decoding: any container or audio file -> mono float32 at a requested sample rate.

Resampling and down-mixing are FFmpeg's (libswresample, via PyAV), which band-limit properly; channels
are averaged to mono.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path

import av
import numpy as np

from avemotion.errors import NoAudioStream, ZeroDuration
from avemotion.media.container import decode_error, open_media

DEFAULT_SAMPLE_RATE = 16000


def _audio_stream(container: av.container.InputContainer, path: Path, sample_rate: int) -> tuple[
        av.audio.stream.AudioStream, float | None, av.AudioResampler]:
    """The first audio stream (threaded decoding), its declared duration (s) and a mono-float resampler.

    Codecs such as AAC pad the last frame; the declared duration says where the signal ends."""
    if not container.streams.audio:
        raise NoAudioStream(path=path)
    stream = container.streams.audio[0]
    stream.thread_type = "AUTO"
    declared = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
    return stream, declared, av.AudioResampler(format="fltp", layout=None, rate=sample_rate)


def load_audio(
    path: str | Path,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    *,
    start: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode the first audio stream of ``path`` to a mono float32 array in [-1, 1] at ``sample_rate``.

    ``start``/``duration`` (seconds) select a window, so long recordings can be read piece by piece.
    Raises :class:`NoAudioStream`, :class:`ZeroDuration`, :class:`CorruptMedia` and the open errors.
    """
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    path = Path(path)
    chunks: _Samples | None = None
    first_time: float | None = None
    declared: float | None = None
    for chunk, first, stated in _decode(path, sample_rate, start, duration):
        first_time, declared = first, stated  # the same with every chunk
        if chunks is None:
            expected = duration + 1.0 if duration is not None else declared
            chunks = _Samples(int(np.ceil(expected * sample_rate)) + sample_rate if expected else 1 << 20)
        chunks.append(chunk)
    if chunks is None:
        raise ZeroDuration("audio stream has zero duration (no decodable samples)", path)
    audio = chunks.array()
    if declared is not None and declared > 0:
        audio = audio[: int(np.ceil(declared * sample_rate))]
    if start > 0 or duration is not None:
        offset = int(round((start - (first_time or 0.0)) * sample_rate)) if start > 0 else 0
        audio = audio[max(offset, 0) :]
        if duration is not None:
            audio = audio[: int(round(duration * sample_rate))]
    if audio.size == 0:
        raise ZeroDuration("audio stream has zero duration (no decodable samples)", path)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _decode(path: Path, sample_rate: int, start: float = 0.0, duration: float | None = None
            ) -> Iterator[tuple[np.ndarray, float | None, float | None]]:
    """The mono float32 chunks (cleaned: :func:`_clean`) of the first audio stream from ``start`` (a seek) to
    past ``start + duration`` (or the end), each with the stream's first frame time (0 at most when ``start`` is
    0) and declared duration. A decoding error after the first chunk ends the stream there (a damaged tail);
    before it, it raises."""
    with open_media(path) as container:
        stream, declared, resampler = _audio_stream(container, path, sample_rate)
        if start > 0:
            container.seek(int(start * av.time_base), any_frame=False, backward=True)
        first_time: float | None = None
        decoded = False
        try:
            for frame in container.decode(stream):
                if first_time is None:
                    first_time = float(frame.time) if frame.time is not None else 0.0
                    if start <= 0:
                        first_time = min(first_time, 0.0)
                for out in resampler.resample(frame):
                    mono = _clean(_to_mono(out))
                    decoded = decoded or mono.size > 0
                    yield mono, first_time, declared
                if duration is not None and frame.time is not None and frame.time > start + duration + 0.5:
                    break
            for out in resampler.resample(None):
                mono = _clean(_to_mono(out))
                decoded = decoded or mono.size > 0
                yield mono, first_time, declared
        except av.error.FFmpegError as exc:
            if not decoded:
                raise decode_error(path, exc) from None
            # keep what decoded before the damage: a truncated tail should not lose the whole clip


class AudioSignal:
    """A mono float32 signal decoded once into a raw file (:func:`decode_audio_file`) and read back a slice at a
    time: ``len(signal)`` samples at ``sample_rate``, ``signal[a:b]`` a NumPy array of those samples, ``peak``
    the largest absolute sample. Memory stays at the slices read, however long the recording."""

    def __init__(self, file: Path, n: int, sample_rate: int, peak: float) -> None:
        self.file, self.sample_rate, self.peak = file, sample_rate, peak
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("an AudioSignal is read by slices of consecutive samples")
        a, b, _ = index.indices(self._n)
        if b <= a:
            return np.zeros(0, np.float32)
        with open(self.file, "rb") as fh:
            return np.fromfile(fh, np.float32, count=b - a, offset=4 * a)

    def remove(self) -> None:
        self.file.unlink(missing_ok=True)


def decode_audio_file(path: str | Path, dest: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE) -> AudioSignal:
    """Decode the first audio stream of ``path`` into the raw float32 file ``dest`` (the samples
    :func:`load_audio` returns for the whole file, written as they decode) and return it as an
    :class:`AudioSignal`. Raises as :func:`load_audio` does."""
    path, dest = Path(path), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    n, peak, limit = 0, 0.0, None
    with open(dest, "wb") as fh:
        for chunk, _, declared in _decode(path, sample_rate):
            if limit is None and declared:
                limit = int(np.ceil(declared * sample_rate))
            if limit is not None:
                chunk = chunk[: max(limit - n, 0)]
            if chunk.size:
                chunk.astype(np.float32, copy=False).tofile(fh)
                n += chunk.size
                peak = max(peak, float(np.abs(chunk).max()))
    if n == 0:
        dest.unlink(missing_ok=True)
        raise ZeroDuration("audio stream has zero duration (no decodable samples)", path)
    return AudioSignal(dest, n, sample_rate, peak)


def iter_audio_windows(
    path: str | Path, sample_rate: int, spans: Sequence[tuple[float, float]]
) -> Iterator[np.ndarray]:
    """Decode ``path`` once and yield the mono float32 samples of each ``(start, end)`` span (seconds).

    Spans must be sorted by start and may overlap (sliding windows). Only the samples from the earliest
    start still needed onwards are held, so memory stays at about one window however long the file is.
    Each span matches ``load_audio(path, sample_rate, start=start, duration=end - start)`` up to the
    resampler's state at the cut (a few samples near the edge). A span past the end of the stream comes
    back shorter or empty; the caller decides what is too short.
    """
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    starts = [s for s, _ in spans]
    if any(b < a for a, b in pairwise(starts)):
        raise ValueError("spans must be sorted by start")
    path = Path(path)
    if not spans:
        return
    with open_media(path) as container:
        stream, declared, resampler = _audio_stream(container, path, sample_rate)
        limit = int(np.ceil(declared * sample_rate)) if declared else None  # samples in the declared duration
        first_time: float | None = None
        buffer = np.zeros(0, np.float32)
        base = 0  # absolute sample index of buffer[0]
        total = 0  # samples decoded so far
        pending = list(spans)

        def bounds(span: tuple[float, float]) -> tuple[int, int]:
            # same offsets as load_audio: a window at 0 starts at the first sample, later ones at their time
            offset = round((span[0] - (first_time or 0.0)) * sample_rate) if span[0] > 0 else 0
            offset = max(offset, 0)
            return offset, offset + round((span[1] - span[0]) * sample_rate)

        def ready(final: bool) -> Iterator[np.ndarray]:
            nonlocal buffer, base
            while pending:
                a, b = bounds(pending[0])
                end = min(b, limit) if limit is not None else b
                if total < end and not final:
                    return
                piece = buffer[max(a - base, 0) : max(min(end, total) - base, 0)]
                pending.pop(0)
                yield np.ascontiguousarray(piece, dtype=np.float32)
                if pending:  # drop what no later span needs
                    keep = max(bounds(pending[0])[0] - base, 0)
                    if keep > 0:
                        buffer = buffer[keep:].copy()
                        base += keep

        def add(chunk: np.ndarray) -> None:
            nonlocal buffer, total
            _clean(chunk, copy=False)
            buffer = np.concatenate([buffer, chunk]) if buffer.size else chunk
            total += chunk.size

        try:
            for frame in container.decode(stream):
                if first_time is None:
                    first_time = float(frame.time) if frame.time is not None else 0.0
                for out in resampler.resample(frame):
                    add(_to_mono(out))
                yield from ready(False)
                if not pending:
                    return
            for out in resampler.resample(None):
                add(_to_mono(out))
        except av.error.FFmpegError as exc:
            if total == 0:
                raise decode_error(path, exc) from None
            # a damaged tail: the spans after it come back short
        if total == 0:
            raise ZeroDuration("audio stream has zero duration (no decodable samples)", path)
        yield from ready(True)


class _Samples:
    """Decoded samples appended into one preallocated float32 array (grown by half when full), so decoding a long
    file holds the signal once, not its frames, their concatenation and whole-signal temporaries too."""

    def __init__(self, capacity: int) -> None:
        self._data = np.empty(max(capacity, 1), np.float32)
        self._n = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self._n + chunk.size
        if end > self._data.size:
            grown = np.empty(max(end, self._data.size + self._data.size // 2), np.float32)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : end] = chunk
        self._n = end

    def array(self) -> np.ndarray:
        """The samples so far (a view when the array is at most a second or so larger, else a copy)."""
        if self._data.size - self._n > max(self._n // 8, 1 << 16):
            return self._data[: self._n].copy()
        return self._data[: self._n]


def _clean(samples: np.ndarray, copy: bool = True) -> np.ndarray:
    """NaN as silence, infinities as full scale: what every decoder here does to a decoded chunk."""
    return np.nan_to_num(samples, copy=copy, nan=0.0, posinf=1.0, neginf=-1.0)


def _to_mono(frame: av.AudioFrame) -> np.ndarray:
    data = frame.to_ndarray()  # planar float: (channels, samples)
    if data.ndim == 2 and data.shape[0] > 1:
        return data.mean(axis=0, dtype=np.float32)
    return data.reshape(-1).astype(np.float32, copy=False)
