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
        """``message`` (empty: :attr:`default_message`) about ``path`` (the file concerned, if any)."""
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
    """A configuration value or file that is invalid (a wrong field, type or combination)."""

    reason = "config"
    default_message = "invalid configuration"


# --- media -----------------------------------------------------------------------------------------
class MediaError(AvemotionError):
    """A media file that cannot be read; the base of the specific media errors below."""

    reason = "media"
    default_message = "cannot read this media file"


class MediaFileNotFound(MediaError):
    """The media file does not exist."""

    reason = "missing"
    default_message = "file not found (check the path and that the disk is mounted)"


class NotAMediaFile(MediaError):
    """The file is not audio or video that FFmpeg can read."""

    reason = "not_media"
    default_message = "not an audio or video file FFmpeg can read"


class EmptyMediaFile(NotAMediaFile):
    """The file has zero bytes."""

    reason = "empty_file"
    default_message = "file is empty (0 bytes); re-copy or re-export it"


class CorruptMedia(MediaError):
    """The file is truncated or corrupt: decoding fails part-way."""

    reason = "corrupt"
    default_message = "file is truncated or corrupt; re-download or re-encode it (e.g. ffmpeg -i in -c copy out)"


class NoAudioStream(MediaError):
    """The file has no audio stream where audio is needed."""

    reason = "no_audio"
    default_message = "has no audio stream; use it video-only (--modality video) or supply the audio"


class NoVideoStream(MediaError):
    """The file has no video stream where video is needed."""

    reason = "no_video"
    default_message = "has no video stream; use it audio-only (--modality audio)"


class ZeroDuration(MediaError):
    """The file decodes to no samples or frames."""

    reason = "zero_duration"
    default_message = "media has zero duration (no decodable samples or frames)"


# --- content ---------------------------------------------------------------------------------------
class SilentAudio(AvemotionError):
    """The audio is digitally silent (all zeros)."""

    reason = "silent"
    default_message = "audio is digitally silent; check that the recording is not muted, or drop the clip"


class ClipTooShort(AvemotionError):
    """The clip is shorter than the features need."""

    reason = "too_short"
    default_message = "clip is too short for the features"


class NoFaceFound(AvemotionError):
    """No face was found in any sampled video frame."""

    reason = "no_face"
    default_message = "no face found in any sampled frame; use the clip audio-only (--modality audio)"


class NothingToPredict(AvemotionError):
    """A clip has none of the inputs the model uses (no usable audio and no face for an audio-video model)."""

    reason = "nothing_to_predict"
    default_message = "the clip has nothing this model can use"


class UnknownLabel(AvemotionError):
    """A corpus label that is not in the label set (and no mapping names it)."""

    reason = "unknown_label"
    default_message = "label is not in the label set; map it with a label-mapping file"


# --- data and models -------------------------------------------------------------------------------
class CorpusError(AvemotionError):
    """A corpus folder, option or label set that the corpus loader cannot use."""

    reason = "corpus"
    default_message = "not a corpus folder this loader understands"


class StoreError(AvemotionError):
    """A feature store that is missing, incomplete or does not match the run."""

    reason = "store"
    default_message = "not a feature store (no store.json); create one with `avemotion extract`"


class CheckpointError(AvemotionError):
    """A saved model (checkpoint, run folder or bundled model) that is missing or malformed."""

    reason = "checkpoint"
    default_message = "not a complete avemotion checkpoint"


class ModelFileMissing(AvemotionError):
    """A pretrained weight file that a package should ship is missing."""

    reason = "model_missing"
    default_message = "a pretrained model file that a package should ship is missing; reinstall the package"


class MissingExtra(AvemotionError):
    """An optional part of avemotion whose packages are not installed (e.g. session analysis)."""

    reason = "missing_extra"
    default_message = "this feature needs an optional extra that is not installed"
