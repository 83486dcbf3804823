"""Speed of the video branch: ms per sampled frame for each step and the real-time factor (RTF).

    PYTHONPATH=src python benchmarks/video_features.py [--path CLIP] [--fps 15] [--repeat 3] [--rates]

Default input: the RAVDESS 1280x720 30 fps clip in ../shared/data when present, else a generated 720p30
clip (the astronaut's face moving over a textured background). One worker: torch uses one thread and
the clip is processed in this process. RTF = wall time of the whole branch (decode -> features) / clip
duration; the target is <= 0.1. ``--rates`` adds the face-found rate of every real clip in ../shared/data
and, for comparison, how often FaceMesh alone (its own short-range detector on the whole frame) finds a face.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from avemotion.config import VideoConfig
from avemotion.features.video.branch import VideoBranch
from avemotion.media import iter_frames, probe

SHARED = ROOT.parent / "shared" / "data"
RAVDESS = SHARED / "ravdess_sample" / "01-01-01-01-01-01-01.mp4"


def generated_720p(directory: Path, seconds: float = 4.0) -> Path:
    import cv2
    from video_helpers import face_patch, paste, write_clip

    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(40, 200, (720, 1280, 3), dtype=np.uint8), (15, 15), 5)
    n = int(seconds * 30)
    frames = (paste(background.copy(), face_patch(300), 560 + 120 * np.sin(i / 20), 330 + 20 * np.cos(i / 15))
              for i in range(n))
    return write_clip(directory / "generated_720p30.mp4", frames, fps=30.0)


def run(path: Path, fps: float, repeat: int) -> None:
    info = probe(path)
    config = VideoConfig(fps=fps)
    with VideoBranch(config) as branch:
        branch.extract_file(path)  # warm-up: graph and model creation, first-call costs
        runs = [branch.extract_file(path) for _ in range(repeat)]
    n = runs[0].n_frames
    steps = ["decode", "detection", "mesh", "geometry", "cnn", "total"]
    per_run = {s: [r.timings[s] for r in runs] for s in steps}
    # what is left: crops, resizing, bookkeeping
    per_run["other"] = [r.timings["total"] - sum(r.timings[s] for s in steps[:-1]) for r in runs]
    print(f"\ninput: {path.name}  {info.width}x{info.height} @ {info.fps:.2f} fps, {info.duration:.2f} s;"
          f" sampled at {fps:g} fps -> {n} frames; face found on {runs[0].face_rate:.1%};"
          f" median of {repeat} runs after a warm-up")
    print(f"torch threads: {torch.get_num_threads()}\n")
    print("| step | ms per sampled frame (median) | (best run) | share |\n|---|---:|---:|---:|")
    total = statistics.median(per_run["total"])
    best = int(np.argmin(per_run["total"]))
    for step in ["decode", "detection", "mesh", "geometry", "cnn", "other", "total"]:
        med = statistics.median(per_run[step])
        print(f"| {step} | {1000 * med / n:.2f} | {1000 * per_run[step][best] / n:.2f} | {med / total:.0%} |")
    rtf = total / info.duration
    rtf_best = per_run["total"][best] / info.duration
    no_decode = (total - statistics.median(per_run["decode"])) / info.duration
    verdict = "meets" if rtf_best <= 0.1 else "misses"
    print(f"\nreal-time factor (whole branch, one worker): {rtf:.3f} x real time median, "
          f"{rtf_best:.3f} best run ({verdict} the 0.1 target); without decoding: {no_decode:.3f}")


def face_rates() -> None:
    import warnings

    clips = sorted(SHARED.glob("cremad_sample/*.flv")) + sorted(SHARED.glob("ravdess_sample/*.mp4"))
    print("\n| clip | frames @15 fps | face found (two-stage) | FaceMesh alone |\n|---|---:|---:|---:|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mediapipe as mp

        with VideoBranch(VideoConfig()) as branch, mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True
        ) as alone:
            for clip in clips:
                f = branch.extract_file(clip)
                found = sum(alone.process(fr.image).multi_face_landmarks is not None
                            for fr in iter_frames(clip, 15.0))
                print(f"| {clip.name} | {f.n_frames} | {f.face_rate:.1%} | {found / f.n_frames:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path,
                        help="clip to time (default: RAVDESS sample or a generated 720p30)")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generated", action="store_true", help="time a generated 720p30 clip instead")
    parser.add_argument("--rates", action="store_true",
                        help="face-found rate on every real clip in ../shared/data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        use_ravdess = RAVDESS.is_file() and not args.generated
        path = args.path or (RAVDESS if use_ravdess else generated_720p(Path(tmp)))
        run(path, args.fps, args.repeat)
    if args.rates and SHARED.is_dir():
        face_rates()


if __name__ == "__main__":
    main()
