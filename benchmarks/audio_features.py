"""Speed of the audio branch X^a: ms per clip and real-time factor (RTF = processing time / clip duration) of
each extractor and of the whole branch, on 3 s and 60 s inputs, one worker (one thread).

    PYTHONPATH=src python benchmarks/audio_features.py [--repeats 5] [--durations 3 60] [--json out.json]

Target (issue 4): the whole branch at or below 0.03 x real time on one core. Inputs are synthetic
speech-like signals at 16 kHz and, when ../shared/data is present, a real RAVDESS utterance and RAVDESS
utterances joined to 60 s (openSMILE's pitch and voice-quality parts cost more on real speech). Every
figure is taken over the repeats after one warm-up run (which pays the one-off costs: openSMILE config
parsing, SoundNet weights, librosa caches).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from audio_helpers import speech_like

from avemotion.config import AudioConfig, OpenSmileConfig
from avemotion.features.audio import AudioBranch
from avemotion.features.audio import smile as sm
from avemotion.features.audio.common import resample
from avemotion.media.write import write_media

SR = 16000
TARGET_RTF = 0.03
REAL_DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/ravdess_sample/Actor_01"


def inputs(durations: list[float], real: Path | None) -> list[tuple[str, np.ndarray]]:
    """(label, 16 kHz signal): synthetic speech-like signals, plus real speech when a folder is given."""
    out = [(f"synthetic {d:g} s", speech_like(d, SR, seed=0)) for d in durations]
    files = sorted(real.glob("*.wav")) if real is not None and real.is_dir() else []
    if files:
        from avemotion.media import load_audio

        utterances = [load_audio(f, SR) for f in files[:40]]
        out.append((f"RAVDESS {len(utterances[0]) / SR:.1f} s", utterances[0]))
        joined = np.concatenate(utterances)
        if len(joined) >= 60 * SR:
            out.append(("RAVDESS joined 60 s", joined[: 60 * SR]))
    return out


def timeit(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(median wall time, min wall time, min CPU time of this process) in seconds. Everything runs on one
    thread, so on an idle core CPU time equals wall time; on a shared machine it excludes waiting for a core,
    and its minimum over the repeats is the best estimate of the cost on an idle core."""
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.min(walls)), float(np.min(cpus))


def cases(config: AudioConfig, branch: AudioBranch, x: np.ndarray, x22: np.ndarray,
          wav: Path) -> list[tuple[str, Callable[[], object]]]:
    """(label, call) of each step timed on one input: ``x`` at 16 kHz, ``x22`` at 22.05 kHz, ``wav`` on disk."""
    by_name = {e.name: e for e in branch.extractors}
    out: list[tuple[str, Callable[[], object]]] = [
        ("mfcc", lambda: by_name["mfcc"].analyse(x)),
    ]
    for name in config.opensmile.sets:
        runner = sm.get_runner(name, SR)
        label = f"- openSMILE {name} (one pass: LLD + deltas + functionals)"
        out.append((label, lambda r=runner: r.run(x)))
    out += [
        ("opensmile (IS09 + IS11 + IS13)", lambda: by_name["opensmile"].analyse(x)),
        (f"soundnet ({config.soundnet.layer}, at 22.05 kHz)", lambda: by_name["soundnet"].analyse(x22)),
        ("resample 16 -> 22.05 kHz", lambda: resample(x, SR, config.soundnet.sample_rate)),
        ("WHOLE BRANCH extract(array)", lambda: branch.extract(x, SR)),
        ("WHOLE BRANCH extract_file(wav) incl. decoding", lambda: branch.extract_file(wav)),
    ]
    for sets in (["IS09", "IS13"], ["IS09"]):
        alt = AudioBranch(config.model_copy(update={"opensmile": OpenSmileConfig(sets=sets)}))
        out.append((f"whole branch, opensmile.sets={sets}", lambda b=alt: b.extract(x, SR)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--durations", type=float, nargs="+", default=[3.0, 60.0])
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--real", type=Path, default=REAL_DEFAULT,
                        help="folder of real speech WAVs (default: ../shared/data/ravdess_sample/Actor_01 "
                             "when present): adds one real utterance and utterances joined to 60 s")
    args = parser.parse_args()
    torch.set_num_threads(1)

    # the paper's X^a, one pass per clip (the default whisper branch and its speed views:
    # benchmarks/whisper_features.py speed)
    config = AudioConfig(extractors=["mfcc", "opensmile", "soundnet"], speed_views=[])
    branch = AudioBranch(config)
    rows: list[dict[str, object]] = []
    tmp = Path(tempfile.mkdtemp(prefix="avemotion-bench-"))
    for input_label, x in inputs(args.durations, args.real):
        duration = len(x) / SR
        x22 = resample(x, SR, config.soundnet.sample_rate)
        wav = write_media(tmp / f"input_{len(rows)}.wav", None, audio=x, sample_rate=SR)
        reps = args.repeats if duration <= 10 else max(2, args.repeats // 2)
        for label, fn in cases(config, branch, x, x22, wav):
            med, best, cpu = timeit(fn, reps)
            rows.append({"input": input_label, "input_s": duration, "step": label,
                         "ms_median": 1e3 * med, "ms_min": 1e3 * best,
                         "ms_cpu": 1e3 * cpu, "rtf_median": med / duration, "rtf_min": best / duration,
                         "rtf_cpu": cpu / duration})

    print(f"# audio branch speed, one thread ({platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} logical CPUs visible, torch {torch.__version__})")
    print(f"# config: extractors={config.extractors} opensmile.sets={config.opensmile.sets} "
          f"soundnet.layer={config.soundnet.layer} token_rate={config.token_rate}")
    print()
    try:
        load = " (load average {:.2f} {:.2f} {:.2f})".format(*os.getloadavg())
    except OSError:
        load = ""
    print(f"# wall-clock median and min over the repeats, and the min CPU time of this process{load}")
    print()
    print("| input | step | ms/clip (median) | ms/clip (min) | ms CPU (min) "
          "| RTF (median) | RTF (min) | RTF (CPU min) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['input']} | {r['step'].strip()} | {r['ms_median']:.1f} | {r['ms_min']:.1f} | "
              f"{r['ms_cpu']:.1f} | {r['rtf_median']:.4f} | {r['rtf_min']:.4f} | {r['rtf_cpu']:.4f} |")
    whole = [r for r in rows if str(r["step"]).startswith("WHOLE BRANCH extract(array)")]
    print()
    for r in whole:
        verdict = "meets" if float(r["rtf_cpu"]) <= TARGET_RTF else "misses"
        print(f"whole branch, {r['input']}: RTF {r['rtf_median']:.4f} wall (median) / "
              f"{r['rtf_cpu']:.4f} CPU (min) "
              f"-> {verdict} the {TARGET_RTF} x real-time target (min CPU time)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
