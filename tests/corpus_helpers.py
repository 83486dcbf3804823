"""Build small corpus trees in each corpus's real naming, with tiny real media written by PyAV."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from avemotion.media.write import write_media


def tiny_media(folder: Path) -> dict[str, Path]:
    """One tiny AV mp4, one video-only mp4, one wav, one flv, one mp3, one avi (made once, then copied)."""
    folder.mkdir(parents=True, exist_ok=True)
    sr = 16000
    t = np.arange(int(0.6 * sr)) / sr
    audio = (0.2 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    frames = [np.full((32, 32, 3), 40 + 10 * i, np.uint8) for i in range(6)]
    out = {
        "av_mp4": write_media(folder / "av.mp4", frames, fps=10, audio=audio, sample_rate=sr),
        "v_mp4": write_media(folder / "v.mp4", frames, fps=10),
        "wav": write_media(folder / "a.wav", None, audio=audio, sample_rate=sr),
        "mp3": write_media(folder / "a.mp3", None, audio=audio, sample_rate=sr),
        # FLV carries MP3 only at 11.025/22.05/44.1 kHz
        "flv": write_media(folder / "av.flv", frames, fps=10, audio=np.repeat(audio, 2)[: int(0.6 * 22050)],
                           sample_rate=22050, video_codec="flv", audio_codec="libmp3lame"),
        "avi": write_media(folder / "dialog.avi", [np.full((32, 32, 3), 90, np.uint8)] * 40, fps=10,
                           audio=np.tile(audio, 7), sample_rate=sr),
    }
    return out


def put(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst
