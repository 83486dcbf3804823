"""What a media file holds: streams, duration, frame rate, sample rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av

from avemotion.media.container import open_media
from avemotion.utils.media_types import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class MediaInfo:
    path: str
    has_audio: bool
    has_video: bool
    duration: float  # seconds, 0.0 when unknown
    sample_rate: int | None = None
    channels: int | None = None
    fps: float | None = None  # average frame rate
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _stream_duration(stream: av.stream.Stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


def probe(path: str | Path) -> MediaInfo:
    """Read the container header (no decoding). Raises the errors of :func:`open_media`."""
    with open_media(path) as container:
        audio = container.streams.audio[0] if container.streams.audio else None
        video = container.streams.video[0] if container.streams.video else None
        duration = float(container.duration) / av.time_base if container.duration else 0.0
        if duration <= 0:
            duration = max([_stream_duration(s) for s in container.streams if s.type in ("audio", "video")] or [0.0])
        fps = None
        if video is not None:
            rate = video.average_rate or video.base_rate or video.guessed_rate
            fps = float(Fraction(rate)) if rate else None
        return MediaInfo(
            path=str(path),
            has_audio=audio is not None,
            has_video=video is not None,
            duration=duration,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            channels=audio.codec_context.channels if audio is not None else None,
            fps=fps,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )
