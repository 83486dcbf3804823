"""Exceptions a user can act on. Each names the file it concerns and says what to do.

Every error has the same constructor: ``Error(message="", path=None)``. An empty message means the class's
own ``default_message``; :meth:`AvemotionError.detailed` appends a technical detail to it. The CLI prints
``str(error)`` (``PATH: message``) without a traceback (``--debug`` shows it); batch runs catch
:class:`AvemotionError`, record ``error.reason`` per file and go on with the other files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

E = TypeVar("E", bound="AvemotionError")


class AvemotionError(Exception):
    """Base class of every error avemotion raises on purpose."""

    #: short machine-readable reason, written to failures.csv
    reason: str = "error"
    #: the message used when none is given
    default_message: str = "error"

    def __init__(self, message: str = "", path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.detail = message or self.default_message
        super().__init__(f"{self.path}: {self.detail}" if self.path is not None else self.detail)

    @classmethod
    def detailed(cls: type[E], detail: str, path: str | Path | None = None) -> E:
        """The default message with a technical detail appended: ``default (detail)``."""
        return cls(f"{cls.default_message} ({detail})" if detail else "", path)

    def renamed(self: E, prefix: str, path: str | Path | None) -> E:
        """The same error with ``prefix: `` before its message, naming ``path`` (e.g. the file being extracted)."""
        return type(self)(f"{prefix}: {self.detail}", path)


class ConfigError(AvemotionError):
    reason = "config"
    default_message = "invalid configuration"


# --- media -----------------------------------------------------------------------------------------
class MediaError(AvemotionError):
    reason = "media"
    default_message = "cannot read this media file"


class MediaFileNotFound(MediaError):
    reason = "missing"
    default_message = "file not found (check the path and that the disk is mounted)"


class NotAMediaFile(MediaError):
    reason = "not_media"
    default_message = "not an audio or video file FFmpeg can read"


class EmptyMediaFile(NotAMediaFile):
    reason = "empty_file"
    default_message = "file is empty (0 bytes); re-copy or re-export it"


class CorruptMedia(MediaError):
    reason = "corrupt"
    default_message = "file is truncated or corrupt; re-download or re-encode it (e.g. ffmpeg -i in -c copy out)"


class NoAudioStream(MediaError):
    reason = "no_audio"
    default_message = "has no audio stream; use it video-only (--modality video) or supply the audio"


class NoVideoStream(MediaError):
    reason = "no_video"
    default_message = "has no video stream; use it audio-only (--modality audio)"


class ZeroDuration(MediaError):
    reason = "zero_duration"
    default_message = "media has zero duration (no decodable samples or frames)"


# --- content ---------------------------------------------------------------------------------------
class SilentAudio(AvemotionError):
    reason = "silent"
    default_message = "audio is digitally silent; check that the recording is not muted, or drop the clip"


class ClipTooShort(AvemotionError):
    reason = "too_short"
    default_message = "clip is too short for the features"


class NoFaceFound(AvemotionError):
    reason = "no_face"
    default_message = "no face found in any sampled frame; use the clip audio-only (--modality audio)"


class UnknownLabel(AvemotionError):
    reason = "unknown_label"
    default_message = "label is not in the label set; map it with a label-mapping file"


# --- data and models -------------------------------------------------------------------------------
class CorpusError(AvemotionError):
    reason = "corpus"
    default_message = "not a corpus folder this loader understands"


class StoreError(AvemotionError):
    reason = "store"
    default_message = "not a feature store (no store.json); create one with `avemotion extract`"


class CheckpointError(AvemotionError):
    reason = "checkpoint"
    default_message = "not a complete avemotion checkpoint"


class ModelFileMissing(AvemotionError):
    reason = "model_missing"
    default_message = "a pretrained model file that a package should ship is missing; reinstall the package"
