"""Writing audio-video files with PyAV (H.264 + AAC in mp4, or audio-only files), atomically.

Used by the synthetic corpus and by tests that make their own media.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avemotion.utils.atomic import atomic_path


def write_media(
    path: str | Path,
    frames: Iterable[np.ndarray] | None,
    fps: float = 15.0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    *,
    video_codec: str = "libx264",
    audio_codec: str | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    audio_bitrate: int = 96000,
) -> Path:
    """Write RGB ``frames`` (each (H, W, 3) uint8; H and W even for H.264) and/or mono or (channels, n)
    float ``audio`` in [-1, 1] to ``path``. The container follows the suffix (.mp4, .mkv, .wav, ...)."""
    path = Path(path)
    if frames is None and audio is None:
        raise ValueError("nothing to write: give frames, audio or both")
    with atomic_path(path) as tmp:
        fmt = _format_for(path)
        with av.open(str(tmp), mode="w", format=fmt) as container:
            vstream = None
            astream = None
            frame_iter = iter(frames) if frames is not None else None
            first = next(frame_iter) if frame_iter is not None else None
            if first is not None:
                rate = Fraction(fps).limit_denominator(1001)
                vstream = container.add_stream(video_codec, rate=rate)
                vstream.width, vstream.height = first.shape[1], first.shape[0]
                vstream.pix_fmt = "yuv420p"
                if video_codec == "libx264":
                    vstream.options = {"crf": str(crf), "preset": preset}
            if audio is not None:
                audio = np.asarray(audio, dtype=np.float32)
                if audio.ndim == 1:
                    audio = audio[None, :]
                channels = audio.shape[0]
                codec = audio_codec or _default_audio_codec(path)
                # Opus only runs at 8/12/16/24/48 kHz: encode at 48 kHz and let the resampler convert
                opus_ok = (8000, 12000, 16000, 24000, 48000)
                stream_rate = 48000 if codec == "libopus" and sample_rate not in opus_ok else sample_rate
                astream = container.add_stream(codec, rate=stream_rate)
                astream.layout = "mono" if channels == 1 else ("stereo" if channels == 2 else f"{channels}c")
                if codec == "aac":
                    astream.bit_rate = audio_bitrate
            if vstream is not None and first is not None and frame_iter is not None:
                for image in _chain(first, frame_iter):
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
                    for packet in vstream.encode(frame):
                        container.mux(packet)
                for packet in vstream.encode():
                    container.mux(packet)
            if astream is not None and audio is not None:
                _encode_audio(container, astream, audio, sample_rate)
    return path


def _encode_audio(container: av.container.OutputContainer, stream: av.AudioStream,
                  audio: np.ndarray, sample_rate: int) -> None:
    channels = audio.shape[0]
    layout = "mono" if channels == 1 else ("stereo" if channels == 2 else f"{channels}c")
    codec_fmt = stream.codec_context.format.name if stream.codec_context.format else "fltp"
    resampler = av.AudioResampler(format=codec_fmt, layout=layout, rate=stream.codec_context.sample_rate,
                                  frame_size=stream.codec_context.frame_size or None)
    block = 1024
    pts = 0
    clipped = np.clip(audio, -1.0, 1.0).astype(np.float32)
    for i in range(0, clipped.shape[1], block * 8):
        chunk = np.ascontiguousarray(clipped[:, i : i + block * 8])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = pts
        pts += chunk.shape[1]
        for out in resampler.resample(frame):
            for packet in stream.encode(out):
                container.mux(packet)
    for out in resampler.resample(None):
        for packet in stream.encode(out):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    yield first
    yield from rest


_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".m4a": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
            ".avi": "avi", ".flv": "flv", ".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".ogg": "ogg"}


def _format_for(path: Path) -> str:
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"cannot choose a container for {path.suffix!r}; use one of {sorted(_FORMATS)}") from None


def _default_audio_codec(path: Path) -> str:
    return {".wav": "pcm_s16le", ".flac": "flac", ".mp3": "libmp3lame", ".ogg": "libopus",
            ".webm": "libopus", ".mkv": "aac", ".avi": "aac"}.get(path.suffix.lower(), "aac")
