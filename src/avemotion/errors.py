"""Exceptions a user can act on. Each names the file it concerns and says what to do.

The CLI prints ``str(error)`` without a traceback (``--debug`` shows it); batch runs catch
:class:`AvemotionError`, record ``error.reason`` per file and go on with the other files.
"""

from __future__ import annotations

from pathlib import Path


class AvemotionError(Exception):
    """Base class of every error avemotion raises on purpose."""

    #: short machine-readable reason, written to failures.csv
    reason: str = "error"

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.detail = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class ConfigError(AvemotionError):
    reason = "config"


# --- media -----------------------------------------------------------------------------------------
class MediaError(AvemotionError):
    reason = "media"


class MediaFileNotFound(MediaError):
    reason = "missing"

    def __init__(self, path: str | Path) -> None:
        super().__init__("file not found (check the path and that the disk is mounted)", path)


class NotAMediaFile(MediaError):
    reason = "not_media"

    def __init__(self, path: str | Path, detail: str = "") -> None:
        msg = "not an audio or video file FFmpeg can read"
        super().__init__(f"{msg} ({detail})" if detail else msg, path)


class EmptyMediaFile(NotAMediaFile):
    reason = "empty_file"

    def __init__(self, path: str | Path) -> None:
        MediaError.__init__(self, "file is empty (0 bytes); re-copy or re-export it", path)


class CorruptMedia(MediaError):
    reason = "corrupt"

    def __init__(self, path: str | Path, detail: str = "") -> None:
        msg = "file is truncated or corrupt; re-download or re-encode it (e.g. ffmpeg -i in -c copy out)"
        super().__init__(f"{msg} [{detail}]" if detail else msg, path)


class NoAudioStream(MediaError):
    reason = "no_audio"

    def __init__(self, path: str | Path) -> None:
        super().__init__("has no audio stream; use it video-only (--modality video) or supply the audio", path)


class NoVideoStream(MediaError):
    reason = "no_video"

    def __init__(self, path: str | Path) -> None:
        super().__init__("has no video stream; use it audio-only (--modality audio)", path)


class ZeroDuration(MediaError):
    reason = "zero_duration"

    def __init__(self, path: str | Path, what: str = "media") -> None:
        super().__init__(f"{what} has zero duration (no decodable samples or frames)", path)


# --- content ---------------------------------------------------------------------------------------
class SilentAudio(AvemotionError):
    reason = "silent"


class ClipTooShort(AvemotionError):
    reason = "too_short"


class NoFaceFound(AvemotionError):
    reason = "no_face"


class UnknownLabel(AvemotionError):
    reason = "unknown_label"


class CheckpointError(AvemotionError):
    reason = "checkpoint"
