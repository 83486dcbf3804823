"""Media decoding with PyAV (bundled FFmpeg): audio as mono float32, video as an iterator of RGB frames.

Names are imported on first use (PEP 562), so ``import avemotion.media.extensions`` or the CLI's parser does not
load PyAV.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from avemotion.media.extensions import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

if TYPE_CHECKING:
    from avemotion.media.audio import load_audio
    from avemotion.media.probe import MediaInfo, probe
    from avemotion.media.video import VideoFrame, iter_frames, read_frames

_LAZY = {
    "load_audio": "avemotion.media.audio",
    "MediaInfo": "avemotion.media.probe",
    "probe": "avemotion.media.probe",
    "VideoFrame": "avemotion.media.video",
    "iter_frames": "avemotion.media.video",
    "read_frames": "avemotion.media.video",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AUDIO_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "MediaInfo",
    "VideoFrame",
    "iter_frames",
    "load_audio",
    "probe",
    "read_frames",
]
