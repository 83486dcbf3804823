"""``avemotion demo``: the whole pipeline on built-in data, end to end.

Stages run in order and each writes under ``--out``; the effective config is saved as ``config.yaml``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from avemotion.cli.common import add_config_options, config_from_args
from avemotion.media import iter_frames, load_audio, probe
from avemotion.media.write import write_media
from avemotion.utils.progress import log, progress


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the pipeline end to end on built-in synthetic data")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "config.yaml")
    clip = out / "clip.mp4"
    log(f"[1/2] writing a synthetic audio-video clip to {clip}")
    _write_test_clip(clip, fps=30.0, seconds=3.0)
    log("[2/2] decoding it")
    info = probe(clip)
    t0 = time.perf_counter()
    audio = load_audio(clip, config.audio.sample_rate)
    frames = 0
    for _ in progress(iter_frames(clip, config.video.fps), desc="frames", unit="frame"):
        frames += 1
    elapsed = time.perf_counter() - t0
    print(f"{clip}: {info.duration:.2f} s, audio {audio.size} samples at {config.audio.sample_rate} Hz, "
          f"{frames} frames at {config.video.fps:g} fps, decoded in {elapsed:.2f} s")
    return 0


def _write_test_clip(path: Path, fps: float, seconds: float, sample_rate: int = 16000) -> None:
    n = int(fps * seconds)
    yy, xx = np.mgrid[0:240, 0:320]

    def frames():
        for i in range(n):
            cx = 160 + 80 * np.sin(2 * np.pi * i / n)
            disk = ((xx - cx) ** 2 + (yy - 120) ** 2) < 40**2
            img = np.zeros((240, 320, 3), np.uint8)
            img[..., 2] = 60
            img[disk] = (230, 190, 150)
            yield img

    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 150 + 30 * np.sin(2 * np.pi * 0.5 * t)
    audio = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / sample_rate) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    write_media(path, frames(), fps=fps, audio=audio, sample_rate=sample_rate)
