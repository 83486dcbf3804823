"""File extensions treated as video or audio containers (a base module: no decoding library imported here,
so the CLI and the corpus loaders can use them without loading PyAV; re-exported by ``avemotion.media``)."""

from __future__ import annotations

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".flv", ".m4v", ".mpg", ".mpeg", ".wmv"})
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus", ".wma", ".aiff", ".aif"})
