"""The demo's wall time, stage by stage, beside the figures issue 26 started from, as ratios.

    PYTHONPATH=src python benchmarks/demo.py [--out DIR] [--workers N]

Runs ``avemotion demo`` from an empty folder (a temporary one unless ``--out`` names one; an existing ``--out``
is emptied first, so nothing is resumed) in a child process and prints, from its ``demo_results.json``, each
stage's seconds beside the reference, the UA of each model beside the issue's table, and the CPU seconds the run
took (the child and its worker processes) as a share of wall time x cores: a figure to compare on a machine
whose speed drifts. About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: issue 26's starting point ("make demo takes about 7 minutes to run ... (training 329 s of it)") and its table
REFERENCE_SECONDS = {"total": 420.0, "training and evaluation": 329.0}
REFERENCE_UA = {"av": 0.600, "audio": 0.372, "video": 0.572}
TARGET_SECONDS = 180.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="the demo's folder (emptied first; default: a temporary folder)")
    ap.add_argument("--workers", type=int, help="the demo's --workers (default: its own, the cores)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="avemotion-demo-bench-") as tmp:
        out = args.out or Path(tmp) / "demo"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "avemotion", "--quiet", "demo", "--out", str(out)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        results = json.loads((out / "demo_results.json").read_text())
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    cores = os.cpu_count() or 1
    print(f"avemotion demo from an empty folder: {wall:.1f} s wall (the process included), {cpu:.1f} CPU s, "
          f"{100 * cpu / (wall * cores):.0f} % of {cores} cores busy; load average {os.getloadavg()[0]:.2f}")
    print("| stage | seconds | reference | ratio |\n|---|---:|---:|---:|")
    for stage, seconds in results["stage_seconds"].items():
        ref = REFERENCE_SECONDS.get(stage)
        print(f"| {stage} | {seconds:.1f} | {'' if ref is None else f'{ref:.0f}'} | "
              f"{'' if ref is None else f'{ref / max(seconds, 1e-9):.2f}x'} |")
    total = results["total_seconds"]
    print(f"| total (the stages) | {total:.1f} | {REFERENCE_SECONDS['total']:.0f} | "
          f"{REFERENCE_SECONDS['total'] / total:.2f}x |")
    print(f"| target | {TARGET_SECONDS:.0f} | | {'met' if wall <= TARGET_SECONDS else 'NOT met'} "
          f"({wall:.0f} s with start-up) |")
    print("\n| model | UA | issue's table | difference |\n|---|---:|---:|---:|")
    for modality, ref in REFERENCE_UA.items():
        metrics = results.get(f"metrics_{modality}")
        if metrics:
            print(f"| {modality} | {metrics['ua']:.3f} | {ref:.3f} | {metrics['ua'] - ref:+.3f} |")
    print(f"\nheld-out speaker: {results['heldout_correct']}/9 clips right")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
