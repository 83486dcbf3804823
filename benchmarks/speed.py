"""Speed of issue 14 in one run: decode floor, video branch, timeline (`predict --window 3`), CLI start.

    PYTHONPATH=src python benchmarks/speed.py [--seconds 60] [--long 600] [--model RUNDIR] [--no-old]
    PYTHONPATH=src python benchmarks/speed.py --video-only      # decode floor + video branch rows, ~1 minute

Prints one table; every figure stands beside its reference, as a ratio:
- **decode floor**: demuxing + decoding every frame of the 720p30 clip (PyAV, the codec threads
  ``iter_frames`` uses: frame threads "AUTO"), no conversion; the same with one codec thread; decoding only
  the frames the 15 fps and 10 fps grids need (non-reference frames no grid time picks are skipped, as
  ``iter_frames`` does); and decoding + RGB at 15 fps (``iter_frames``, what the branch consumes);
- **video branch** (``VideoBranch.extract_file``, default config, 15 fps) with the expression CNN's batch
  norms folded (new) and not (old, ``fold_bn=False``), with every frame decoded (before the grid-only
  decoding), with one codec thread, and at 10 fps, as real-time factor (RTF = seconds per second of video)
  and as a multiple of the decode floor;
- **timeline**: ``predict_timeline(window=3, hop=1.5)`` on a generated 720p30 recording of ``--seconds``
  (and ``--long``) seconds (the RAVDESS clip's frames played back and forth, its audio likewise), one
  decoding pass per process, the recording's two halves in two processes (new, ``workers=2``), all in one
  process (``workers=1``), and the previous per-window extraction (old, :func:`per_window_timeline`); RTF, CPU
  seconds per second (both processes) and peak resident memory (each run in a fresh process: main and audio process);
- **CLI start**: ``avemotion --help`` and ``avemotion version`` wall time against the 0.5 s target.

CPU time (``time.process_time``, all threads of the process incl. codec threads) is the figure to compare on
a shared machine; wall time is printed too. The machine's load average is printed with the results. The
predictor is a tiny model trained on the synthetic corpus (``avemotion demo`` with 2 clips per class, 2
epochs; about a minute) unless ``--model RUNDIR`` names a trained run: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from avemotion.media import MediaInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SHARED = ROOT.parent / "shared" / "data"
RAVDESS = SHARED / "ravdess_sample" / "01-01-01-01-01-01-01.mp4"


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


# --- inputs --------------------------------------------------------------------------------------------
def source_clip(directory: Path) -> Path:
    """The RAVDESS 720p30 clip, or a generated 720p30 clip with a face and a voice-like tone."""
    if RAVDESS.is_file():
        return RAVDESS
    import numpy as np

    sys.path.insert(0, str(ROOT / "tests"))
    from video_helpers import face_patch, paste

    from avemotion.media.write import write_media

    rng = np.random.default_rng(0)
    import cv2

    background = cv2.GaussianBlur(rng.integers(40, 200, (720, 1280, 3), dtype=np.uint8), (15, 15), 5)
    frames = [paste(background.copy(), face_patch(300), 560 + 60 * np.sin(i / 20), 330) for i in range(100)]
    t = np.arange(int(48000 * 100 / 30)) / 48000
    audio = 0.2 * np.sin(2 * np.pi * (150 + 30 * np.sin(2 * np.pi * 0.5 * t)) * t)
    return write_media(directory / "source_720p30.mp4", frames, fps=30000 / 1001, audio=audio, sample_rate=48000)


def long_recording(source: Path, seconds: float, out: Path) -> Path:
    """``seconds`` of 720p30 video + 48 kHz audio: the source's frames and audio played back and forth."""
    import numpy as np

    from avemotion.media import iter_frames, load_audio
    from avemotion.media.write import write_media

    if out.is_file():
        return out
    frames = [f.image for f in iter_frames(source, None)]
    loop = frames + frames[-2:0:-1]
    audio = load_audio(source, 48000)
    audio_loop = np.concatenate([audio, audio[::-1]])
    n_audio = int(seconds * 48000)
    audio = np.tile(audio_loop, int(np.ceil(n_audio / len(audio_loop))))[:n_audio]
    n = round(seconds * 30000 / 1001)
    return write_media(out, (loop[i % len(loop)] for i in range(n)), fps=30000 / 1001, audio=audio, sample_rate=48000)


def tiny_model(directory: Path) -> Path:
    cmd = [sys.executable, "-m", "avemotion", "--quiet", "demo", "--out", str(directory), "--per-class", "2",
           "--speakers", "2", "--seconds", "1.0", "--folds", "2", "--epochs", "2", "--modalities", "av",
           "--workers", "1"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return directory / "run_av"


# --- measurements ---------------------------------------------------------------------------------------
def timed(fn) -> tuple[float, float, object]:
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c0, time.perf_counter() - w0, out


def decode_floor(clip: Path, repeats: int) -> dict[str, float]:
    import av

    from avemotion.media import iter_frames, video

    def decode(thread_type: str | None = video.THREAD_TYPE, fps: float | None = None) -> int:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            if thread_type is not None:
                stream.thread_type = thread_type
            grid = video._Grid(0.0, fps, None) if fps else None
            return sum(1 for _ in video._decode(container, stream, grid))

    def best(fn) -> tuple[float, float, object]:
        runs = [timed(fn) for _ in range(repeats)]
        return min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]

    out: dict[str, float] = {}
    for key, fn in (("decode", decode), ("decode_one", lambda: decode(None)), ("grid", lambda: decode(fps=15.0)),
                    ("grid10", lambda: decode(fps=10.0)), ("rgb", lambda: sum(1 for _ in iter_frames(clip, 15.0)))):
        out[f"{key}_cpu"], out[f"{key}_wall"], out[f"{key}_frames"] = best(fn)
    return out


def video_branch(clip: Path, repeats: int) -> dict[str, dict[str, float]]:
    import torch

    from avemotion.config import VideoConfig
    from avemotion.features.nets.expression_cnn import ExpressionCNN
    from avemotion.features.video.branch import VideoBranch
    from avemotion.media import video

    torch.set_num_threads(1)
    out: dict[str, dict[str, float]] = {}
    grid_decode, thread_type = video._decode, video.THREAD_TYPE

    def every_frame(container, stream, grid):  # the decoding before the grid-only one
        return grid_decode(container, stream, None)

    variants = (("old", False, {}), ("new", True, {}), ("new_full_decode", True, {"_decode": every_frame}),
                ("new_one_thread", True, {"THREAD_TYPE": None}), ("new_10fps", True, {}))
    for name, fold, patch in variants:
        config = VideoConfig(fps=10.0) if name.endswith("10fps") else VideoConfig()
        with VideoBranch(config) as branch:
            branch.extractors[0]._cnn = ExpressionCNN(channels_last=True, fold_bn=fold)
            for attr, value in patch.items():
                setattr(video, attr, value)
            try:
                branch.extract_file(clip)  # warm-up
                runs = [timed(lambda: branch.extract_file(clip)) for _ in range(repeats)]
            finally:
                video._decode, video.THREAD_TYPE = grid_decode, thread_type
        best = min(runs, key=lambda r: r[0])
        feats = best[2]
        out[name] = {"cpu": best[0], "wall": best[1], "frames": feats.n_frames, "face_rate": feats.face_rate,
                     **{f"step_{k}": v for k, v in feats.timings.items()}}
    return out


def video_rows(clip: Path, duration: float, repeats: int) -> tuple[list[tuple[str, str, str, str]], str]:
    """The decode floor and video branch rows, and the branch's per-step line."""
    from avemotion.media import video

    rows: list[tuple[str, str, str, str]] = []
    floor = decode_floor(clip, repeats)
    dur = duration
    ref = floor["decode_cpu"]
    rows.append((f"decode floor: all {floor['decode_frames']} frames, no conversion, codec threads "
                 f"{video.THREAD_TYPE} (CPU)", f"RTF {ref / dur:.3f}", "-", "1.00"))
    rows.append(("decode floor (wall)", f"RTF {floor['decode_wall'] / dur:.3f}", "-", "-"))
    rows.append(("decode all frames, one codec thread (CPU)", f"RTF {floor['decode_one_cpu'] / dur:.3f}",
                 "decode floor", f"{floor['decode_one_cpu'] / ref:.2f}"))
    for key, fps in (("grid", 15), ("grid10", 10)):
        cpu = floor[key + "_cpu"]
        rows.append((f"decode for the {fps} fps grid only: {floor[key + '_frames']} frames decoded, no conversion "
                     "(CPU)", f"RTF {cpu / dur:.3f}", "decode floor", f"{cpu / ref:.2f}"))
    rows.append(("decode + RGB at 15 fps, iter_frames (CPU)", f"RTF {floor['rgb_cpu'] / dur:.3f}",
                 "decode floor", f"{floor['rgb_cpu'] / ref:.2f}"))

    branch = video_branch(clip, repeats)
    labels = {"old": "old (CNN batch norms not folded)", "new": "new", "new_full_decode":
              "new, every frame decoded (before grid decoding)", "new_one_thread": "new, one codec thread",
              "new_10fps": "new, at 10 fps"}
    for name, label in labels.items():
        b = branch[name]
        n = b["frames"]
        rows.append((f"video branch, {label} (CPU, {n} frames, face {b['face_rate']:.0%})",
                     f"RTF {b['cpu'] / dur:.3f} ({1000 * b['cpu'] / n:.1f} ms/frame)", "decode floor",
                     f"{b['cpu'] / ref:.2f}"))
        rows.append((f"video branch, {label} (wall)", f"RTF {b['wall'] / dur:.3f}", "decode floor (wall)",
                     f"{b['wall'] / floor['decode_wall']:.2f}"))
    rows.append(("video branch new vs old (CPU)", "", "old", f"{branch['new']['cpu'] / branch['old']['cpu']:.2f}"))
    rows.append(("video branch new vs every frame decoded (CPU)", "", "every frame decoded",
                 f"{branch['new']['cpu'] / branch['new_full_decode']['cpu']:.2f}"))
    rows.append(("video branch at 15 fps, target 0.1 x real time (CPU)", f"RTF {branch['new']['cpu'] / dur:.3f}",
                 "target RTF 0.100", f"{branch['new']['cpu'] / dur / 0.1:.2f}"))
    steps = ["decode", "detection", "mesh", "geometry", "cnn"]
    n = branch["new"]["frames"]
    step_line = ", ".join(f"{s} {1000 * branch['new'].get('step_' + s, 0.0) / n:.1f}" for s in steps)
    return rows, step_line


class RssSampler:
    """Peak resident memory of this process and its child processes (the second timeline process), sampled from /proc
    every 0.2 s. (``ru_maxrss`` of children is not usable: a child forked for a helper command counts the
    parent's pages before its exec.)"""

    def __init__(self) -> None:
        import threading

        self.peak_self = self.peak_children = self.peak_total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss_mb(pid: int | str) -> float:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    @staticmethod
    def _children(pid: int) -> list[int]:
        out: list[int] = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                out += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return out

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.2):
            own = self._rss_mb(me)
            kids = sum(self._rss_mb(c) for c in self._children(me))
            self.peak_self = max(self.peak_self, own)
            self.peak_children = max(self.peak_children, kids)
            self.peak_total = max(self.peak_total, own + kids)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def per_window_timeline(predictor, path: Path, window: float, hop: float) -> list:
    """The reference timeline: each window extracted from the file on its own (decoded again from a seek) with
    ``Extractor.extract`` and a ``start``/``end`` window in the record, then predicted."""
    from avemotion.data.extract import borrow_extractor
    from avemotion.data.manifest import ClipRecord
    from avemotion.errors import AvemotionError
    from avemotion.features.windows import windows
    from avemotion.inference.timeline import WindowPrediction
    from avemotion.media import VIDEO_EXTENSIONS, probe

    path = Path(path)
    info = probe(path)
    is_video = path.suffix.lower() in VIDEO_EXTENSIONS and info.has_video
    modality = predictor.bundle.selection.modality
    out = []
    with borrow_extractor(predictor.config) as extractor:
        for start, end in windows(info.duration, window, hop):
            record = ClipRecord(f"{path.stem}@{start:.2f}", "", None, str(path) if is_video else None,
                                str(path) if info.has_audio else None, {"start": start, "end": end})
            try:
                features = extractor.extract(record, modality).features
                out.append(WindowPrediction(start, end, predictor.predict(features, source=str(path))))
            except AvemotionError as exc:
                out.append(WindowPrediction(start, end, None, f"{exc.reason}: {exc.detail}"))
    return out


def timeline_child(args: argparse.Namespace) -> None:
    """One timeline run in this (fresh) process; prints a JSON line with times and peak memory."""
    import torch

    from avemotion.inference.predict import Predictor
    from avemotion.inference.timeline import predict_timeline
    from avemotion.utils.progress import set_quiet

    set_quiet(True)
    torch.set_num_threads(1)
    predictor = Predictor.load(args.model)
    mode = args.child
    if mode == "old":
        def run():
            return per_window_timeline(predictor, args.path, 3.0, 1.5)
    else:
        def run():
            return predict_timeline(predictor, args.path, 3.0, 1.5, workers=2 if mode == "new2" else 1)
    with RssSampler() as rss:
        cpu, wall, timeline = timed(run)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("RESULT " + json.dumps({
        "cpu": cpu, "wall": wall, "child_cpu": children.ru_utime + children.ru_stime,
        # sampled, not ru_maxrss: Linux keeps ru_maxrss across execve, so it would report the parent's size
        "rss_mb": rss.peak_self,
        "child_rss_mb": rss.peak_children, "total_rss_mb": rss.peak_total,
        "windows": len(timeline), "predicted": sum(w.prediction is not None for w in timeline),
    }))


def timeline(model: Path, path: Path, mode: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", mode, "--model", str(model), "--path", str(path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"timeline run {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def cli_start(repeats: int) -> dict[str, float]:
    out = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for args in (["--help"], ["version"]):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "avemotion", *args], check=True, stdout=subprocess.DEVNULL, env=env)
            times.append(time.perf_counter() - t0)
        out[" ".join(args)] = min(times)
    return out


def predict_cli(clip: Path, repeats: int) -> float | None:
    """Wall seconds of ``avemotion predict CLIP`` with the bundled default model, start-up included (best of)."""
    from avemotion.inference.bundled import bundled_models

    if not any(m.name == "default" for m in bundled_models()):
        return None
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "avemotion", "--quiet", "predict", str(clip)], check=True,
                       stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t0)
    return min(times)


def default_model() -> Path | None:
    from avemotion.inference.bundled import bundled_models

    return next((m.folder for m in bundled_models() if m.name == "default"), None)


# --- report ----------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the timeline recording (default 60)")
    parser.add_argument("--long", type=float, default=0.0, help="also time a recording this long (e.g. 600), new only")
    parser.add_argument("--model", type=Path, help="trained run folder (default: the bundled default model, else "
                        "a tiny one trained here)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-old", action="store_true", help="skip the previous timeline implementation (slow)")
    parser.add_argument("--media-dir", type=Path, help="keep generated recordings here (reused when present)")
    parser.add_argument("--video-only", action="store_true", help="only the decode floor and video branch rows "
                        "(no CLI start, predict or timeline runs; about a minute)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        timeline_child(args)
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        media = args.media_dir or tmp
        media.mkdir(parents=True, exist_ok=True)
        clip = source_clip(tmp)
        from avemotion.media import probe

        info = probe(clip)
        rows: list[tuple[str, str, str, str]] = []  # figure, value, reference, ratio

        dur = info.duration
        if not args.video_only:
            cli = cli_start(args.repeats)
            for name, secs in cli.items():
                rows.append((f"CLI start: avemotion {name} (wall)", f"{secs:.2f} s", "target 0.50 s",
                             f"{secs / 0.5:.2f}"))
            secs = predict_cli(clip, args.repeats)
            if secs is not None:
                rows.append((f"avemotion predict {clip.name} ({dur:.1f} s), bundled model, start-up included "
                             "(wall)", f"{secs:.2f} s", "target 3.00 s", f"{secs / 3.0:.2f}"))

        video, step_line = video_rows(clip, dur, args.repeats)
        rows += video
        if args.video_only:
            report(rows, None, clip, info, args.repeats, step_line)
            return

        model = args.model or default_model() or tiny_model(tmp / "demo")
        lengths = [args.seconds] + ([args.long] if args.long else [])
        for seconds in lengths:
            rec = long_recording(clip, seconds, media / f"recording_{int(seconds)}s.mp4")
            modes = ["new2", "new1"] + ([] if args.no_old or seconds > args.seconds else ["old"])
            results = {m: timeline(model, rec, m) for m in modes}
            ref = results.get("old")
            for m in modes:
                r = results[m]
                label = {"new2": "new, 2 processes", "new1": "new, 1 process", "old": "old, per-window"}[m]
                total_cpu = r["cpu"] + r["child_cpu"]
                rows.append((f"timeline {seconds:g} s, {label}: wall", f"RTF {r['wall'] / seconds:.3f}",
                             "old wall" if ref else "target 0.25 (0.30 bundled model)",
                             f"{r['wall'] / ref['wall']:.2f}" if ref else f"{r['wall'] / seconds / 0.25:.2f}"))
                rows.append((f"timeline {seconds:g} s, {label}: CPU (all processes)",
                             f"RTF {total_cpu / seconds:.3f}", "old CPU" if ref else "-",
                             f"{total_cpu / (ref['cpu'] + ref['child_cpu']):.2f}" if ref else "-"))
                rows.append((f"timeline {seconds:g} s, {label}: peak RSS (all processes)",
                             (f"{r['total_rss_mb']:.0f} MB (main {r['rss_mb']:.0f}, second process "
                              f"{r['child_rss_mb']:.0f})"), "1500 MB", f"{r['total_rss_mb'] / 1500:.2f}"))
            if "new2" in results:
                r = results["new2"]
                rows.append((f"timeline {seconds:g} s, new, 2 processes: busiest process (CPU)",
                             f"RTF {max(r['cpu'], r['child_cpu']) / seconds:.3f}", "target 0.25 (2 cores)",
                             f"{max(r['cpu'], r['child_cpu']) / seconds / 0.25:.2f}"))

    report(rows, model, clip, info, args.repeats, step_line)


def report(rows: list[tuple[str, str, str, str]], model: Path | None, clip: Path, info: MediaInfo, repeats: int,
           step_line: str) -> None:
    if model is not None:
        print(f"\nmodel: {model}")
    print(f"clip: {clip.name} {info.width}x{info.height} @ {info.fps:.2f} fps, {info.duration:.2f} s; best of "
          f"{repeats}; torch threads 1; load average now {load()} (2 cores shared: CPU time is the figure to compare)")
    print(f"video branch steps, new, ms per sampled frame (wall): {step_line}\n")
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':{width}s} | value | reference | ratio |\n|{'-' * (width + 2)}|---|---|---:|")
    for figure, value, reference, ratio in rows:
        print(f"| {figure:{width}s} | {value} | {reference} | {ratio} |")


if __name__ == "__main__":
    main()
