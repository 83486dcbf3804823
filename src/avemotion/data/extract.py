"""Per-clip feature extraction: media files -> :class:`ClipFeatures` (audio X^a and video x_t).

``extract_clip`` is what both the corpus pipeline (``avemotion extract``) and prediction on new files use;
``extract_windows`` gives the features of many windows of one file (the timeline) from one decoding pass.
A clip may lose one modality (no audio track, digital silence, no face): it is kept with that modality
absent and a warning; it fails only when neither modality is usable.

Extractors hold native resources (MediaPipe graphs with their threads, openSMILE instances, the expression
CNN): building one per clip and dropping it leaked memory and threads with every video
(docs/experiments/2026-12-06-web-soak.md). Code that extracts
clip after clip in one process borrows an extractor from the process-wide pool (:func:`borrow_extractor`,
which ``extract_clip`` and ``extract_windows`` use): one per config and concurrent user, reused, and closed
when its config drops out of the pool. An :class:`Extractor` made directly is closed with
:meth:`Extractor.close` (or ``with``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from avemotion.config import Config, hash_view
from avemotion.config.schema import SELECTION_ONLY
from avemotion.data.manifest import ClipRecord
from avemotion.errors import AvemotionError, NoAudioStream, NoFaceFound, NoVideoStream, SilentAudio
from avemotion.features.record import ClipFeatures
from avemotion.features.windows import Span
from avemotion.modality import Modality, uses_audio, uses_video
from avemotion.utils.hashing import json_digest, text_digest

if TYPE_CHECKING:
    from avemotion.media.probe import MediaInfo

#: bump when extractor code changes in a way that changes stored features
FEATURE_VERSION = 1


@dataclass
class ExtractResult:
    features: ClipFeatures
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)

    @property
    def partial(self) -> bool:
        return bool(self.warnings)


class Extractor:
    """Holds the audio and video branches of one config (built lazily, reused across clips)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._audio = None
        self._video = None

    @property
    def audio(self):  # returns an AudioBranch, imported lazily (heavy dependencies)
        if self._audio is None:
            from avemotion.features.audio.branch import AudioBranch

            self._audio = AudioBranch(self.config.audio)
        return self._audio

    @property
    def video(self):  # returns a VideoBranch
        if self._video is None:
            from avemotion.features.video.branch import VideoBranch

            self._video = VideoBranch(self.config.video)
        return self._video

    def close(self) -> None:
        """Release the branches' native resources (MediaPipe graphs, openSMILE instances); the extractor
        builds them again if used afterwards."""
        video, audio = self._video, self._audio
        self._video = self._audio = None
        if video is not None:
            video.close()
        if audio is not None:
            audio.close()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def extract(self, record: ClipRecord, modality: Modality = "av") -> ExtractResult:
        # a time window (s) applies to both files, or per file with audio_/video_ prefixes (IEMOCAP: the video
        # is the whole dialog, the audio file is already the utterance)
        a_start, a_end = _window(record.extra, "audio")
        v_start, v_end = _window(record.extra, "video")

        def audio_part():  # returns AudioFeatures
            return self.audio.extract_file(record.audio_path, start=a_start, end=a_end)

        def video_part():  # returns VideoFeatures
            return self.video.extract_file(record.video_path, start=v_start or 0.0, end=v_end)

        return self.combine(record, audio_part, video_part, modality)

    def extract_windows(
        self, path: str | Path, spans: Sequence[Span], modality: Modality = "av", *, workers: int = 1,
        info: MediaInfo | None = None,
    ) -> Iterator[tuple[float, float, ClipFeatures | AvemotionError]]:
        """``(start, end, features or the window's error)`` per span (sorted by start) of one media file.

        The branches compute all windows from one decoding pass (:meth:`VideoBranch.extract_windows`,
        :meth:`AudioBranch.extract_windows`); each window's features match :meth:`extract` of that window
        (a record with its ``start``/``end``) within decoder and sampling-grid tolerances, and the rules for
        a missing modality are those of :meth:`combine`. ``workers >= 2``: the audio features come from a
        second process, beside the video here. ``info``: the file's :func:`~avemotion.media.probe` result.
        """
        from avemotion.media.probe import VIDEO_EXTENSIONS, probe

        path = Path(path)
        info = info if info is not None else probe(path)
        is_video = path.suffix.lower() in VIDEO_EXTENSIONS and info.has_video
        audio_parts = video_parts = None
        try:
            if info.has_audio and uses_audio(modality):
                if workers >= 2:  # the second process builds its own branch: none is needed here
                    from avemotion.features.audio.branch import extract_windows_in_process

                    audio_parts = extract_windows_in_process(self.config.audio, path, spans)
                else:
                    audio_parts = self.audio.extract_windows(path, spans)
            if is_video and uses_video(modality):
                video_parts = self.video.extract_windows(path, spans)
            for start, end in spans:
                # video first: the audio process starts up and runs ahead meanwhile
                v = next(video_parts) if video_parts is not None else None
                a = next(audio_parts) if audio_parts is not None else None
                record = ClipRecord(f"{path.stem}@{start:.2f}", "", None, str(path) if is_video else None,
                                    str(path) if info.has_audio else None, {"start": start, "end": end})
                try:
                    yield start, end, self.combine(record, _part(a), _part(v), modality).features
                except AvemotionError as exc:
                    yield start, end, exc
        finally:
            for parts in (audio_parts, video_parts):
                if parts is not None:
                    parts.close()  # type: ignore[attr-defined]

    def combine(self, record: ClipRecord, audio_part: Callable[[], object], video_part: Callable[[], object],
                modality: Modality = "av") -> ExtractResult:
        """One clip's :class:`ClipFeatures` from its audio and video parts (``AudioFeatures`` /
        ``VideoFeatures``, each made by a callable that may raise): the rules for a missing or failing
        modality are the same however the parts were computed (from the files here; from one pass over a
        long recording in the timeline)."""
        warnings: list[tuple[str, str]] = []
        audio = video = None
        first_error: AvemotionError | None = None
        if record.audio_path and uses_audio(modality):
            try:
                audio = audio_part()
            except (NoAudioStream, SilentAudio) as exc:
                warnings.append((exc.reason, str(exc)))
                first_error = first_error or exc
            except AvemotionError as exc:
                if not record.video_path or record.video_path == record.audio_path:
                    raise
                warnings.append((exc.reason, str(exc)))
                first_error = first_error or exc
        if record.video_path and uses_video(modality):
            try:
                video = video_part()
                if not video.mask.any():
                    raise NoFaceFound(
                        "no face found in any frame; the clip is used audio-only", record.video_path
                    )
            except (NoVideoStream, NoFaceFound) as exc:
                video = None
                warnings.append((exc.reason, str(exc)))
                first_error = first_error or exc
            except AvemotionError as exc:
                if audio is None:
                    raise
                warnings.append((exc.reason, str(exc)))
        if audio is None and video is None:
            if first_error is not None:
                raise first_error
            raise AvemotionError(f"no usable modality for --modality {modality}",
                                 record.audio_path or record.video_path)
        features = ClipFeatures.from_branches(
            record.clip_id, audio, video,
            meta={
                "label": record.label,
                "face_rate": float(video.face_rate) if video is not None else 0.0,
                "duration": float(audio.times[-1] + 0.5 / self.config.audio.token_rate)
                if audio is not None and len(audio.times)
                else (float(video.times[-1]) if video is not None and len(video.times) else 0.0),
                "warnings": [m for _, m in warnings],
            },
        )
        features.validate()
        return ExtractResult(features, warnings)


def extract_clip(path: str | Path, config: Config | None = None, modality: Modality = "av") -> ClipFeatures:
    """Features of one media file (audio, video or both), for prediction on new files."""
    from avemotion.media.probe import VIDEO_EXTENSIONS

    path = Path(path)
    is_video = path.suffix.lower() in VIDEO_EXTENSIONS
    record = ClipRecord(path.stem, "", None, str(path) if is_video else None, str(path))
    with borrow_extractor(config or Config()) as extractor:
        return extractor.extract(record, modality).features


def extract_windows(
    path: str | Path, spans: Sequence[Span], config: Config | None = None, modality: Modality = "av", *,
    workers: int = 1, info: MediaInfo | None = None,
) -> Iterator[tuple[float, float, ClipFeatures | AvemotionError]]:
    """:meth:`Extractor.extract_windows` with an extractor of ``config`` borrowed from the pool for as long
    as the iteration runs."""
    with borrow_extractor(config or Config()) as extractor:  # reused across recordings, one user at a time
        yield from extractor.extract_windows(path, spans, modality, workers=workers, info=info)


def _part(item: object) -> Callable[[], object]:
    """A callable for :meth:`Extractor.combine`: returns the features or raises the window's error."""
    def get() -> object:
        if isinstance(item, BaseException):
            raise item
        return item

    return get


# --- the process-wide pool ------------------------------------------------------------------------------
class ExtractorPool:
    """Idle extractors per extractor config, reused by whoever borrows one next.

    A borrower gets an idle extractor of its config or a new one, and has it to itself until it gives it
    back (MediaPipe graphs and torch modules are not re-entrant), so N threads extracting at once hold N
    extractors and no more. At most ``max_configs`` configs keep idle extractors: the least recently used
    config's are closed when another comes in (an extractor borrowed at that moment is closed when returned).
    """

    def __init__(self, max_configs: int = 2) -> None:
        self.max_configs = max_configs
        self._lock = threading.Lock()
        self._idle: OrderedDict[str, list[Extractor]] = OrderedDict()
        self._created = 0

    @property
    def created(self) -> int:
        """Extractors built by this pool so far (a test's handle on reuse)."""
        return self._created

    def idle_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    @contextmanager
    def borrow(self, config: Config) -> Iterator[Extractor]:
        key = config_hash(config)
        extractor = self._take(key, config)
        try:
            yield extractor
        finally:
            self._give_back(key, extractor)

    def _take(self, key: str, config: Config) -> Extractor:
        evicted: list[Extractor] = []
        with self._lock:
            idle = self._idle.get(key)
            if idle is None:
                self._idle[key] = idle = []
                while len(self._idle) > self.max_configs:
                    evicted += self._idle.popitem(last=False)[1]
            self._idle.move_to_end(key)
            extractor = idle.pop() if idle else None
            if extractor is None:
                self._created += 1
        for old in evicted:
            old.close()
        # a pooled extractor is built from a copy: the caller may change its Config object later
        return extractor if extractor is not None else Extractor(config.model_copy(deep=True))

    def _give_back(self, key: str, extractor: Extractor) -> None:
        with self._lock:
            idle = self._idle.get(key)
            if idle is not None:
                idle.append(extractor)
                return
        extractor.close()  # its config left the pool while it was out

    def clear(self) -> None:
        """Close every idle extractor (borrowed ones are closed when given back)."""
        with self._lock:
            idle = [e for v in self._idle.values() for e in v]
            self._idle.clear()
        for extractor in idle:
            extractor.close()


POOL = ExtractorPool()


def borrow_extractor(config: Config):  # returns a context manager yielding an Extractor
    """``with borrow_extractor(config) as ex:`` an :class:`Extractor` of this config from the process-wide
    pool, to oneself until the block ends."""
    return POOL.borrow(config)


# --- cache keys ------------------------------------------------------------------------------------------
def config_hash(config: Config) -> str:
    """Hash of the extraction settings (the audio and video sections of the config's frozen
    :func:`~avemotion.config.hash_view`) and the feature version: part of every clip key."""
    view = hash_view(config)
    for section, key in SELECTION_ONLY:  # a selection of stored features: the same store
        view[section].pop(key, None)
    payload = {"audio": view["audio"], "video": view["video"], "feature_version": FEATURE_VERSION}
    return json_digest(payload, "sha1", 16)


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """SHA-1 of a file's content (cached per path, size and modification time)."""
    st = os.stat(path)
    return _file_digest(str(path), st.st_size, st.st_mtime_ns)


def clip_key(record: ClipRecord, cfg_hash: str) -> str:
    """Store key of a clip: its media content (not its path), its time window and the extractor config."""
    parts = [cfg_hash]
    for p in (record.video_path, record.audio_path):
        parts.append("|")
        if p:
            try:
                parts.append(file_digest(p))
            except OSError:
                parts.append(f"missing:{p}")  # extraction will report the missing file
    parts += [f"|{record.extra.get(k)}" for k in WINDOW_KEYS]
    return text_digest("".join(parts), "sha1", 20)


WINDOW_KEYS = ("start", "end", "audio_start", "audio_end", "video_start", "video_end")


def _window(extra: dict[str, object], modality: str) -> tuple[float | None, float | None]:
    start = extra.get(f"{modality}_start", extra.get("start"))
    end = extra.get(f"{modality}_end", extra.get("end"))
    return _opt_float(start), _opt_float(end)


def _opt_float(value: object) -> float | None:
    return None if value in (None, "") else float(value)  # type: ignore[arg-type]
