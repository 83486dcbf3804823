"""Media decoding with PyAV (bundled FFmpeg): audio as mono float32, video as an iterator of RGB frames."""

from avemotion.media.audio import iter_audio_windows, load_audio
from avemotion.media.probe import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, MediaInfo, probe
from avemotion.media.video import VideoFrame, iter_frames, read_frames

__all__ = [
    "AUDIO_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "MediaInfo",
    "VideoFrame",
    "iter_audio_windows",
    "iter_frames",
    "load_audio",
    "probe",
    "read_frames",
]
