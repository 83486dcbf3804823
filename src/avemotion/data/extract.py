"""Per-clip feature extraction: media files -> :class:`ClipFeatures` (audio X^a and video x_t).

``extract_clip`` is what both the corpus pipeline (``avemotion extract``) and prediction on new files use.
A clip may lose one modality (no audio track, digital silence, no face): it is kept with that modality
absent and a warning; it fails only when neither modality is usable.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from avemotion.config import Config
from avemotion.data.manifest import ClipRecord
from avemotion.errors import AvemotionError, NoAudioStream, NoFaceFound, NoVideoStream, SilentAudio
from avemotion.features.record import ClipFeatures
from avemotion.modality import Modality, uses_audio, uses_video

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
    def audio(self):  # noqa: ANN201 - AudioBranch, imported lazily (heavy dependencies)
        if self._audio is None:
            from avemotion.features.audio.branch import AudioBranch

            self._audio = AudioBranch(self.config.audio)
        return self._audio

    @property
    def video(self):  # noqa: ANN201 - VideoBranch
        if self._video is None:
            from avemotion.features.video.branch import VideoBranch

            self._video = VideoBranch(self.config.video)
        return self._video

    def extract(self, record: ClipRecord, modality: Modality = "av") -> ExtractResult:
        # a time window (s) applies to both files, or per file with audio_/video_ prefixes (IEMOCAP: the video
        # is the whole dialog, the audio file is already the utterance)
        a_start, a_end = _window(record.extra, "audio")
        v_start, v_end = _window(record.extra, "video")

        def audio_part():  # noqa: ANN202 - AudioFeatures
            return self.audio.extract_file(record.audio_path, start=a_start, end=a_end)

        def video_part():  # noqa: ANN202 - VideoFeatures
            return self.video.extract_file(record.video_path, start=v_start or 0.0, end=v_end)

        return self.combine(record, audio_part, video_part, modality)

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
            raise AvemotionError(f"no usable modality for --modality {modality}", record.audio_path or record.video_path)
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
    return Extractor(config or Config()).extract(record, modality).features


# --- cache keys ------------------------------------------------------------------------------------------
def config_hash(config: Config) -> str:
    audio = config.audio.model_dump(mode="json")
    if not audio["speed_views"]:  # stores extracted before speed views existed keep their keys
        del audio["speed_views"]
    payload = {"audio": audio, "video": config.video.model_dump(mode="json"), "feature_version": FEATURE_VERSION}
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


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
    h = hashlib.sha1(cfg_hash.encode())
    for p in (record.video_path, record.audio_path):
        h.update(b"|")
        if p:
            try:
                h.update(file_digest(p).encode())
            except OSError:
                h.update(f"missing:{p}".encode())  # extraction will report the missing file
    for k in WINDOW_KEYS:
        h.update(f"|{record.extra.get(k)}".encode())
    return h.hexdigest()[:20]


WINDOW_KEYS = ("start", "end", "audio_start", "audio_end", "video_start", "video_end")


def _window(extra: dict[str, object], modality: str) -> tuple[float | None, float | None]:
    start = extra.get(f"{modality}_start", extra.get("start"))
    end = extra.get(f"{modality}_end", extra.get("end"))
    return _opt_float(start), _opt_float(end)


def _opt_float(value: object) -> float | None:
    return None if value in (None, "") else float(value)  # type: ignore[arg-type]
