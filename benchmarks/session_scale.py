"""Session analysis at scale (issue #28 item 7): wall time, real-time factor and peak memory of
``avemotion session`` on audio recordings of growing length.

Each recording is made here: two synthetic voices (a low and a high one) taking 3-s turns with 1-s pauses
(``avemotion.data.synthetic.voice``), written as 16-kHz WAV. ``avemotion session`` runs in a child process
(the bundled model, the speakers found from the recording); its peak resident memory comes from the child's
rusage, read in a fresh wrapper process per run. The issue's target for audio: at most 0.1 x real time on 2
cores, memory flat in length.

    PYTHONPATH=src python benchmarks/session_scale.py [--minutes 1 5] [--keep DIR]
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

from avemotion.data.synthetic.voice import VoiceParams, synthesize

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


#: runs a command and prints its peak resident memory (KiB): a fresh process, so no earlier child counts
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run_session(wav: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of ``avemotion session WAV --out OUT`` in a child process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "avemotion", "-q", "session",
                           str(wav), "--out", str(out)], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    return wall, int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 5.0])
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
        wall, peak = run_session(wav, work / "out")
        print(f"| {seconds / 60:.1f} min | {wall:.1f} | {wall / seconds:.3f} | {peak:.0f} |", flush=True)
    print("target (issue #28): audio at most 0.1 x real time on 2 cores, memory flat in length")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
