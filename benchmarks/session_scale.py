"""Session analysis at scale (issue #28 item 7): wall time, real-time factor and peak memory of
``avemotion session`` on audio recordings and videos of growing length.

Each recording is made here: two synthetic voices (a low and a high one) taking 3-s turns with 1-s pauses
(``avemotion.data.synthetic.voice``), written as 16-kHz WAV. With ``--video-minutes``, also 720p H.264 videos
(25 fps) of the same conversation: the synthetic face (``avemotion.data.synthetic.face``, 256 px) on a grey
frame, its lips moving with the low voice (the person on camera) and still while the high voice (off camera)
speaks; the video runs once with faces and once with ``--no-faces``. ``avemotion session`` runs in a child
process (the bundled model, the speakers found from the recording, a fresh output folder, so its stage cache
starts empty); its peak resident memory comes from the child's rusage, read in a fresh wrapper process per run.
Each audio recording is then analysed again into the same folder: the rerun after completion, which reuses the
stage results (``DIR/.<name>.session-cache``). The issue's targets: audio at most 0.1 x real time,
a 720p video at most 0.3 x real time on 2 cores, memory flat in length.

    PYTHONPATH=src python benchmarks/session_scale.py [--minutes 1 5] [--video-minutes 2] [--keep DIR]
    PYTHONPATH=src python benchmarks/session_scale.py --minutes --video-minutes 60 --segment-minutes 5

An hour of 720p video takes about as long to encode here as it lasts: ``--segment-minutes`` builds it from
copies of a shorter one (packets copied, not re-encoded; the conversation then repeats).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from avemotion.data.synthetic.face import BASIS_NAMES, FaceIdentity, FaceRig
from avemotion.data.synthetic.voice import VoiceParams, mouth_opening, synthesize
from avemotion.media.write import write_media

SR = 16000
TURN, GAP = 3.0, 1.0


def _voice(f0: float, formants: float) -> VoiceParams:
    return VoiceParams(f0_hz=f0, range_st=3.0, slope_st=-2.0, tempo=4.5, level_db=0.0, level_var_db=2.0,
                       jitter=0.01, shimmer=0.05, breathiness=0.15, effort=0.5, formant_scale=formants)


def conversation(minutes: float, path: Path, seed: int = 0) -> Path:
    """A two-voice recording of about ``minutes`` minutes at ``path``."""
    rng = np.random.default_rng(seed)
    voices = [_voice(105.0, 1.0), _voice(225.0, 1.2)]
    parts, t, i = [np.zeros(int(GAP * SR), np.float32)], GAP, 0
    while t < minutes * 60:
        parts += [synthesize(voices[i % 2], TURN, SR, rng).audio, np.zeros(int(GAP * SR), np.float32)]
        t += TURN + GAP
        i += 1
    sf.write(path, np.concatenate(parts), SR)
    return path


def video_conversation(minutes: float, path: Path, seed: int = 0, fps: int = 25,
                       size: tuple[int, int] = (1280, 720)) -> Path:
    """The two-voice conversation of about ``minutes`` minutes as a video at ``path``: one face on camera, speaking
    the low voice's turns; frames rendered and encoded one by one (memory flat in length)."""
    rng = np.random.default_rng(seed)
    voices = [_voice(105.0, 1.0), _voice(225.0, 1.2)]
    audio, opening = [np.zeros(int(GAP * SR), np.float32)], [np.zeros(int(GAP * fps))]
    t, i = GAP, 0
    while t < minutes * 60:
        utt = synthesize(voices[i % 2], TURN, SR, rng)
        audio += [utt.audio, np.zeros(int(GAP * SR), np.float32)]
        mouth = mouth_opening(utt, fps, int(TURN * fps)) if i % 2 == 0 else np.zeros(int(TURN * fps))
        opening += [mouth, np.zeros(int(GAP * fps))]
        t += TURN + GAP
        i += 1
    rig = FaceRig(FaceIdentity(), size=(256, 256))
    close, jaw = BASIS_NAMES.index("lip_close"), BASIS_NAMES.index("jaw")
    w, h = size
    y0, x0 = (h - 256) // 2, (w - 256) // 2

    def frames():
        canvas = np.full((h, w, 3), 96, np.uint8)
        for a in 0.15 + 1.1 * np.concatenate(opening):
            weights = np.zeros(len(BASIS_NAMES), np.float32)
            weights[close] = np.clip(1.0 - a, 0.0, 1.0)
            weights[jaw] = np.clip(a - 1.0, 0.0, 1.2)
            canvas[y0:y0 + 256, x0:x0 + 256] = rig.render(weights, (0.0, 0.0, 0.0, 0.0))
            yield canvas

    return write_media(path, frames(), fps, np.concatenate(audio), SR)


def repeat_video(segment: Path, copies: int, path: Path) -> Path:
    """``copies`` copies of the video ``segment`` one after another at ``path``, its packets copied (no
    re-encoding: an hour of 720p H.264 takes this machine about an hour to encode, the copies seconds). Every
    stream of copy k is shifted by the same k x the segment's length, so sound and picture stay in step."""
    import math

    import av

    with av.open(str(segment)) as src, av.open(str(path), "w") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
        length = 0.0  # seconds from the earliest decoding stamp to the latest end, over the streams
        for k in range(copies):
            src.seek(0)
            first: dict[int, int] = {}
            end: dict[int, int] = {}
            for packet in src.demux(*(src.streams[i] for i in streams)):
                if packet.dts is None:  # the demuxer's flush packets
                    continue
                i = packet.stream.index
                first.setdefault(i, packet.dts)
                end[i] = max(end.get(i, packet.dts), packet.pts + (packet.duration or 0))
                shift = math.ceil(k * length / packet.stream.time_base)
                packet.pts += shift
                packet.dts += shift
                packet.stream = streams[i]
                dst.mux(packet)
            if k == 0:
                length = max(float((end[i] - first[i]) * src.streams[i].time_base) for i in first)
    return path


#: runs a command and prints its peak resident memory (KiB): a fresh process, so no earlier child counts
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run_session(wav: Path, out: Path, *extra: str) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of ``avemotion session WAV --out OUT`` in a child process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "avemotion", "-q", "session",
                           str(wav), "--out", str(out), *extra], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    return wall, int(done.stdout.strip().splitlines()[-1]) / 1024


def _duration(path: Path) -> float:
    from avemotion.media.probe import probe

    return float(probe(path).duration or 0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="*", default=[1.0, 5.0])
    ap.add_argument("--video-minutes", type=float, nargs="*", default=[],
                    help="also 720p videos of these lengths (with and without faces)")
    ap.add_argument("--segment-minutes", type=float, default=0.0,
                    help="build a longer video from copies of one this long (encoding is slower than real time)")
    ap.add_argument("--no-faces-run", action=argparse.BooleanOptionalAction, default=True,
                    help="also analyse each video with --no-faces (default on)")
    ap.add_argument("--keep", type=Path, help="keep the recordings and reports here")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="avemotion-session-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# avemotion session on two-voice WAV recordings; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| recording | wall s | x real time | peak MiB |\n|---|---:|---:|---:|")
    for minutes in sorted(args.minutes):
        wav = conversation(minutes, work / f"talk_{minutes:g}min.wav")
        seconds = sf.info(wav).duration
        out = work / f"out_{minutes:g}min"
        wall, peak = run_session(wav, out)
        print(f"| {seconds / 60:.1f} min | {wall:.1f} | {wall / seconds:.3f} | {peak:.0f} |", flush=True)
        wall, peak = run_session(wav, out)
        print(f"| {seconds / 60:.1f} min, rerun (stage results reused) | {wall:.1f} | {wall / seconds:.3f} | "
              f"{peak:.0f} |", flush=True)
    for minutes in sorted(args.video_minutes):
        if args.segment_minutes and minutes > args.segment_minutes:
            copies = round(minutes / args.segment_minutes)
            segment = video_conversation(args.segment_minutes, work / f"talk_{args.segment_minutes:g}min.mp4")
            mp4 = repeat_video(segment, copies, work / f"talk_{minutes:g}min.mp4")
        else:
            mp4 = video_conversation(minutes, work / f"talk_{minutes:g}min.mp4")
        seconds = _duration(mp4)
        runs = [((), "faces"), (("--no-faces",), "no faces")][:2 if args.no_faces_run else 1]
        for extra, what in runs:
            wall, peak = run_session(mp4, work / f"out_{minutes:g}min_{len(extra)}", *extra)
            print(f"| {seconds / 60:.1f} min 720p video, {what} | {wall:.1f} | {wall / seconds:.3f} | {peak:.0f} |",
                  flush=True)
    print("targets (issue #28): audio at most 0.1 x real time, 720p video at most 0.3 x real time on 2 cores, "
          "memory flat in length")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
