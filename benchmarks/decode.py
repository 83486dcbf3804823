"""Decode speed: seconds of wall time per second of 720p30 video (RGB frames at 15 fps and at the native
rate), and audio decoding to 16 kHz mono. Uses the RAVDESS clip in ../shared/data when present, else writes a
synthetic 720p30 clip. Prints a table.

    .venv/bin/python benchmarks/decode.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from avemotion.media import iter_frames, load_audio, probe
from avemotion.media.write import write_media

SHARED_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess_sample" / "01-01-01-01-01-01-01.mp4"


def synthetic_720p(path: Path, seconds: float = 4.0) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(720, 1280, 3), dtype=np.uint8)
    frames = (np.roll(base, 8 * i, axis=1) for i in range(int(30 * seconds)))
    t = np.arange(int(48000 * seconds)) / 48000
    return write_media(path, frames, fps=30, audio=0.2 * np.sin(2 * np.pi * 220 * t), sample_rate=48000)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clip", type=Path, help="video to time (default: RAVDESS sample or a synthetic clip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or (SHARED_CLIP if SHARED_CLIP.is_file() else synthetic_720p(Path(tmp) / "720p.mp4"))
        info = probe(clip)
        rows = [
            ("video -> RGB @ 15 fps", best_of(lambda: sum(1 for _ in iter_frames(clip, 15)), args.repeats)),
            ("video -> RGB @ native fps", best_of(lambda: sum(1 for _ in iter_frames(clip, None)), args.repeats)),
            ("audio -> 16 kHz mono", best_of(lambda: load_audio(clip, 16000), args.repeats)),
            ("audio -> 22.05 kHz mono", best_of(lambda: load_audio(clip, 22050), args.repeats)),
        ]
    print(f"clip: {clip.name}  {info.width}x{info.height} @ {info.fps:.2f} fps, {info.duration:.2f} s "
          f"(best of {args.repeats})")
    print(f"{'step':28s} {'wall s':>8s} {'s per s of media':>18s}")
    for name, secs in rows:
        print(f"{name:28s} {secs:8.3f} {secs / info.duration:18.3f}")


if __name__ == "__main__":
    main()
