"""Generation speed of the synthetic corpus: 9 classes x N clips of T s at 15 fps with W workers.

    PYTHONPATH=src python benchmarks/synthetic_corpus.py [--per-class 20] [--seconds 2.5] [--workers 2]

Prints the wall time (including process start-up and the one-off FaceMesh pass) and clips per second.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from avemotion.data.synthetic.corpus import CorpusParams, generate_corpus
from avemotion.utils.progress import set_quiet


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--speakers", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="write the corpus here instead of a temporary folder")
    args = ap.parse_args()
    set_quiet(True)
    params = CorpusParams(per_class=args.per_class, speakers=args.speakers, seconds=args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "corpus"
        t0 = time.perf_counter()
        info = generate_corpus(out, params, workers=args.workers)
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.rglob("*.mp4"))
    n = info["clips"]
    print("| clips | clip s | fps | frame | workers | cpus | wall s | clips/s | MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {n} | {params.duration:.2f} | {params.fps:g} | {params.width}x{params.height} | {args.workers} | "
          f"{os.cpu_count()} | {wall:.1f} | {n / wall:.2f} | {size / 1e6:.1f} |")


if __name__ == "__main__":
    main()
