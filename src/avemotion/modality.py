"""The one modality type used everywhere: ``"av"`` (audio + video), ``"audio"`` or ``"video"``."""

from __future__ import annotations

from typing import Literal, cast

from avemotion.errors import ConfigError

Modality = Literal["av", "audio", "video"]
MODALITIES: tuple[Modality, ...] = ("av", "audio", "video")
#: how reports name each modality
DESCRIPTIONS: dict[Modality, str] = {"av": "audio + video", "audio": "audio only", "video": "video only"}


def parse_modality(text: str, what: str = "modality") -> Modality:
    """``"av"``, ``"audio"`` or ``"video"`` (case-insensitive); anything else is a :class:`ConfigError`."""
    key = text.strip().lower()
    if key not in MODALITIES:
        raise ConfigError(f"{what} must be one of {', '.join(MODALITIES)}, not {text!r}")
    return cast(Modality, key)


def modality_of(has_audio: bool, has_video: bool) -> Modality | None:
    """The modality of a clip that has audio and/or video (None when it has neither)."""
    if has_audio and has_video:
        return "av"
    if has_audio:
        return "audio"
    if has_video:
        return "video"
    return None


def uses_audio(modality: Modality) -> bool:
    return modality in ("av", "audio")


def uses_video(modality: Modality) -> bool:
    return modality in ("av", "video")
