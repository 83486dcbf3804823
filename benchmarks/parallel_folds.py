"""Wall time of ``avemotion train`` with its folds one after another (``--workers 1``) and in parallel
processes (``--workers N``), on a toy feature store (or a real one), run back to back, repeated.

    PYTHONPATH=src python benchmarks/parallel_folds.py [--clips 128] [--cv 4] [--epochs 6] [--workers 2]
        [--repeats 2] [--features FEATDIR] [--set KEY=VALUE ...]

Each run is a fresh ``python -m avemotion --quiet train`` (process start-up, worker spawn and the final
model included) into a new folder. Prints every wall time (and CPU time: the gain needs idle cores, and
the machine's load average says how many others use), the median ratio sequential / parallel with its
spread (min-max over the pairs), and checks that both give the same metrics and predictions (target, issue
#26: the same numbers to the last digit). The default (a toy store, the default inner folds) takes a few
minutes on 2 cores; the models are the tests' tiny sizes unless ``--full-size``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY = ["--set", "model.rnn_hidden=12", "--set", "model.lstm_hidden=16", "--set", "model.proj_dim=16",
        "--set", "model.attn_dim=8"]
TOY_EXTRACTORS = ["--set", "audio.extractors=[mfcc,opensmile,soundnet]"]


def _strip(metrics: dict) -> dict:
    timed = ("latency", "seconds", "time", "elapsed")
    return {k: _strip(v) if isinstance(v, dict) else v for k, v in metrics.items()
            if not any(t in k.lower() for t in timed)}


def _train(features: Path, out: Path, workers: int, extra: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (the run's processes together, user + system) of one ``train``."""
    cmd = [sys.executable, "-m", "avemotion", "--quiet", "train", "--features", str(features),
           "--out", str(out), "--workers", str(workers), *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", type=Path, help="a feature store (default: a toy store made here)")
    ap.add_argument("--clips", type=int, default=128, help="toy store size")
    ap.add_argument("--cv", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--full-size", action="store_true",
                    help="the default model sizes, not the tests' tiny ones")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more config overrides")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        extra = ["--cv", str(args.cv), "--epochs", str(args.epochs), *([] if args.full_size else TINY),
                 *[a for kv in args.set for a in ("--set", kv)]]
        features = args.features
        if features is None:
            from avemotion.training.toy import make_toy_store

            features = root / "toy"
            make_toy_store(features, n_clips=args.clips, n_speakers=8, signal=2.0)
            extra += TOY_EXTRACTORS
        print(f"store {features}; train {' '.join(extra)}; {os.cpu_count()} cores; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        times: dict[int, list[float]] = {1: [], args.workers: []}
        outputs: dict[int, tuple[dict, str]] = {}
        for r in range(args.repeats):
            order = [1, args.workers] if r % 2 == 0 else [args.workers, 1]  # alternate who goes first
            for w in order:
                out = root / f"run-w{w}-r{r}"
                load = os.getloadavg()[0]
                wall, cpu = _train(features, out, w, extra)
                times[w].append(wall)
                outputs[w] = (_strip(json.loads((out / "metrics.json").read_text())),
                              (out / "predictions.csv").read_text())
                print(f"repeat {r + 1}: --workers {w}: {wall:.1f} s wall, {cpu:.1f} s CPU "
                      f"(load average before: {load:.2f})", flush=True)
        ratios = [a / b for a, b in zip(times[1], times[args.workers], strict=True)]
        print(f"--workers 1: median {statistics.median(times[1]):.1f} s; --workers {args.workers}: median "
              f"{statistics.median(times[args.workers]):.1f} s")
        print(f"speed-up (sequential / parallel wall time): median {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} pairs)")
        same = outputs[1] == outputs[args.workers]
        print(f"same metrics.json (without timings) and predictions.csv: {same}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
