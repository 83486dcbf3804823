"""Feature extraction: ``features.audio`` (X^a) and ``features.video`` (per-frame x_t)."""

from avemotion.registry import Registry

#: audio extractors by name ("mfcc", "opensmile", "soundnet", ...)
AUDIO_EXTRACTORS: Registry = Registry("audio extractor")
#: video (per-frame) extractors by name
VIDEO_EXTRACTORS: Registry = Registry("video extractor")
