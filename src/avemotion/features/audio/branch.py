"""X^a (paper eq. 7): the splice of MFCC, openSMILE and SoundNet features.

``AudioBranch(config).extract(audio, sample_rate)`` returns :class:`AudioFeatures` with
- ``seq`` (T, D): every extractor's time-resolved streams pooled onto one even grid of ``token_rate`` tokens
  per second (T = ceil(duration * token_rate)), concatenated column-wise in ``config.extractors`` order;
- ``vec`` (D_v,): the clip-level vectors concatenated in the same order;
- ``seq_groups`` / ``vec_groups``: extractor name -> [start, stop) columns, for ablations;
- ``views``: the same features of the signal played at each speed of ``config.speed_views`` (test-time
  augmentation; each view's own ``views`` is empty).
A span of a file is :meth:`AudioBranch.extract_file` (``start``, ``end``), windows of a file
:meth:`AudioBranch.extract_windows` (one decoding pass, optionally in a second process). Standardisation is
not done here: the training code fits it on training folds only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avemotion.config import AudioConfig
from avemotion.errors import AvemotionError, ConfigError
from avemotion.features import AUDIO_EXTRACTORS
from avemotion.features.audio.common import (
    AudioExtractor,
    change_speed,
    condition,
    finite,
    grid_length,
    grid_times,
    pool_to_grid,
    resample,
    to_mono,
)
from avemotion.features.windows import Span
from avemotion.utils.workers import ProcessStream

Groups = dict[str, tuple[int, int]]

#: windows the second process of :meth:`AudioBranch.extract_windows` may run ahead (bounds memory)
AUDIO_QUEUE = 8


@dataclass
class AudioFeatures:
    seq: np.ndarray
    times: np.ndarray
    vec: np.ndarray
    seq_groups: Groups = field(default_factory=dict)
    vec_groups: Groups = field(default_factory=dict)
    duration: float = 0.0
    token_rate: float = 10.0
    views: dict[float, AudioFeatures] = field(default_factory=dict)  # speed -> features of that version


class AudioBranch:
    """Runs the configured extractors (``config.extractors``) and splices their outputs."""

    def __init__(self, config: AudioConfig | None = None) -> None:
        self.config = config or AudioConfig()
        names = list(dict.fromkeys(self.config.extractors))
        if not self.config.soundnet.enabled:
            names = [n for n in names if n != "soundnet"]
        if not names:
            raise ConfigError("audio.extractors is empty: nothing to extract")
        self.extractors: list[AudioExtractor] = []
        for name in names:
            try:
                cls = AUDIO_EXTRACTORS.get(name)
            except KeyError as exc:
                raise ConfigError(str(exc.args[0])) from None
            self.extractors.append(cls(getattr(self.config, name), sample_rate=self.config.sample_rate))

    def close(self) -> None:
        for extractor in self.extractors:
            extractor.close()

    # --- description ------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [e.name for e in self.extractors]

    @property
    def rates(self) -> list[int]:
        """Distinct decoding rates the extractors need (each file is decoded once per rate)."""
        return list(dict.fromkeys(e.sample_rate for e in self.extractors))

    @property
    def dims(self) -> dict[str, object]:
        """``{"seq": D, "vec": D_v, "seq_groups": {...}, "vec_groups": {...}, "token_rate": r}``."""
        seq_groups, vec_groups = self._groups([e.seq_dim for e in self.extractors],
                                              [e.vec_dim for e in self.extractors])
        return {
            "seq": max((b for _, b in seq_groups.values()), default=0),
            "vec": max((b for _, b in vec_groups.values()), default=0),
            "seq_groups": seq_groups,
            "vec_groups": vec_groups,
            "token_rate": self.config.token_rate,
        }

    def _groups(self, seq_dims: list[int], vec_dims: list[int]) -> tuple[Groups, Groups]:
        seq_groups: Groups = {}
        vec_groups: Groups = {}
        s = v = 0
        for e, ds, dv in zip(self.extractors, seq_dims, vec_dims, strict=True):
            seq_groups[e.name] = (s, s + ds)
            vec_groups[e.name] = (v, v + dv)
            s += ds
            v += dv
        return seq_groups, vec_groups

    # --- extraction -------------------------------------------------------------------------------------
    def extract(
        self, audio: np.ndarray, sample_rate: int, *, source: str | Path | None = None
    ) -> AudioFeatures:
        """Features of a signal (mono, (C, N) or (N, C); float or integer PCM) at any sample rate."""
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        x = condition(audio, sample_rate, source)
        signals = {rate: resample(x, sample_rate, rate) for rate in self.rates}
        return self._extract_signals(signals, len(x) / float(sample_rate), source)

    def extract_file(self, path: str | Path, *, start: float | None = None, end: float | None = None) -> AudioFeatures:
        """Decode ``path`` (or its ``start``-``end`` window, seconds) once per needed rate and extract."""
        from avemotion.media import load_audio

        path = Path(path)
        window = {"start": start or 0.0, "duration": None if end is None else end - (start or 0.0)}
        return self.extract_decoded({rate: load_audio(path, rate, **window) for rate in self.rates}, path)

    def extract_windows(self, path: str | Path, spans: Sequence[Span], *, workers: int = 1
                        ) -> Iterator[AudioFeatures | AvemotionError]:
        """Per span (sorted by start; see :func:`avemotion.features.windows.windows`): its features, or the
        :class:`AvemotionError` that window raised. The file is decoded once per rate and each window's
        samples are cut from the stream (:func:`avemotion.media.iter_audio_windows`), then analysed as
        :meth:`extract_decoded` does. ``workers >= 2``: computed by a second (spawned) process with a branch
        of this config, at most :data:`AUDIO_QUEUE` windows ahead of the caller; it starts at once."""
        if workers >= 2:
            return extract_windows_in_process(self.config, path, spans)
        return self._iter_windows(Path(path), spans)

    def _iter_windows(self, path: Path, spans: Sequence[Span]) -> Iterator[AudioFeatures | AvemotionError]:
        from avemotion.media import iter_audio_windows

        streams = {rate: iter_audio_windows(path, rate, spans) for rate in self.rates}
        failed: AvemotionError | None = None
        for _ in spans:
            if failed is not None:
                yield failed
                continue
            try:
                signals = {rate: next(s) for rate, s in streams.items()}
            except AvemotionError as exc:  # the track cannot be read at all
                failed = exc
                yield exc
                continue
            try:
                yield self.extract_decoded(signals, path)
            except AvemotionError as exc:
                yield exc

    def extract_decoded(self, signals: dict[int, np.ndarray], source: str | Path | None = None) -> AudioFeatures:
        """Features of one clip already decoded at each rate of :attr:`rates` (mono float32, as ``load_audio``
        returns it): conditioned and analysed exactly as :meth:`extract_file` does. :meth:`extract_windows`
        decodes a long recording once and hands each window's cut here."""
        conditioned: dict[int, np.ndarray] = {}
        duration = None
        for rate in self.rates:
            x = condition(signals[rate], rate, source)
            conditioned[rate] = x
            duration = duration if duration is not None else len(x) / float(rate)
        assert duration is not None
        return self._extract_signals(conditioned, duration, source)

    def _extract_signals(
        self, signals: dict[int, np.ndarray], duration: float, source: str | Path | None
    ) -> AudioFeatures:
        """The plain clip's features, with one view per speed of ``config.speed_views`` (each rate's conditioned
        signal resampled to play that much faster)."""
        out = self._extract_plain(signals, duration, source)
        for speed in self.config.speed_views:
            faster = {rate: change_speed(x, speed) for rate, x in signals.items()}
            first = next(iter(faster))
            out.views[speed] = self._extract_plain(faster, len(faster[first]) / float(first), source)
        return out

    def _extract_plain(
        self, signals: dict[int, np.ndarray], duration: float, source: str | Path | None
    ) -> AudioFeatures:
        rate = self.config.token_rate
        n_tokens = grid_length(duration, rate)
        seq_parts: list[np.ndarray] = []
        vec_parts: list[np.ndarray] = []
        for extractor in self.extractors:
            try:
                out = extractor.analyse(signals[extractor.sample_rate])
            except AvemotionError as exc:
                if exc.path is None and source is not None:  # name the file in the message
                    raise exc.renamed(extractor.name, source) from None
                raise
            pooled = [pool_to_grid(s.values, s.times, rate, n_tokens) for s in out.streams]
            seq_parts.append(np.concatenate(pooled, axis=1) if pooled else np.zeros((n_tokens, 0), np.float32))
            vec_parts.append(np.asarray(out.vec, dtype=np.float32).reshape(-1))
        seq_groups, vec_groups = self._groups([p.shape[1] for p in seq_parts], [p.size for p in vec_parts])
        return AudioFeatures(
            seq=finite(np.concatenate(seq_parts, axis=1)),
            times=grid_times(n_tokens, rate),
            vec=finite(np.concatenate(vec_parts)),
            seq_groups=seq_groups,
            vec_groups=vec_groups,
            duration=duration,
            token_rate=rate,
        )


def extract_windows_in_process(config: AudioConfig, path: str | Path, spans: Sequence[Span]
                               ) -> ProcessStream[AudioFeatures | AvemotionError]:
    """:meth:`AudioBranch.extract_windows` of a branch of ``config`` built in a second (spawned) process,
    which starts at once; no branch (no model) is built in this one."""
    return ProcessStream(_windows_in_process, (config.model_dump(), str(path), list(spans)),
                         what="audio feature", path=Path(path), maxsize=AUDIO_QUEUE)


def _windows_in_process(config: dict, path: str, spans: list[Span]
                        ) -> Iterator[AudioFeatures | AvemotionError]:
    """The second process of :meth:`AudioBranch.extract_windows` (one torch thread: it runs beside the
    caller)."""
    import torch

    torch.set_num_threads(1)
    branch = AudioBranch(AudioConfig(**config))
    try:
        yield from branch.extract_windows(Path(path), spans)
    finally:
        branch.close()


__all__ = ["AudioBranch", "AudioFeatures", "extract_windows_in_process", "to_mono"]
