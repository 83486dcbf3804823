"""Extraction throughput: clips per second and real-time factor of `avemotion extract` on the built-in
synthetic corpus, with 1 and 2 local workers and with Ray (2 actors), each into a fresh store; plus the
scaling ratio (2 workers vs 1).

    .venv/bin/python benchmarks/extract_corpus.py [--clips 36] [--corpus DIR] [--no-ray]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from avemotion.config import Config
from avemotion.data.corpora import load_corpus
from avemotion.data.pipeline import run_extraction
from avemotion.data.synthetic.corpus import CorpusParams, generate_corpus
from avemotion.utils.progress import set_quiet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=36, help="clips to extract per run (default 36)")
    parser.add_argument("--corpus", type=Path, help="an existing synthetic/folder corpus (default: generate one)")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    set_quiet(True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus_dir = args.corpus
        if corpus_dir is None:
            corpus_dir = Path(tmp) / "corpus"
            per_class = max(1, -(-args.clips // 9))
            generate_corpus(corpus_dir, CorpusParams(per_class=per_class, speakers=min(5, per_class)), workers=2)
        corpus, records = load_corpus("folder", corpus_dir)
        records = records[: args.clips]
        config = Config()
        runs = [("local", 1), ("local", 2)] + ([] if args.no_ray else [("ray", 2)])
        rows = []
        for executor, workers in runs:
            out = Path(tmp) / f"store-{executor}-{workers}"
            t0 = time.perf_counter()
            summary = run_extraction(records, out, config, corpus="synthetic", label_set=corpus.label_set(records),
                                     workers=workers, executor=executor)
            wall = time.perf_counter() - t0  # includes worker start-up (process spawn, ray.init)
            assert summary.failed == 0, summary.failures
            rows.append((executor, workers, len(records), wall, summary.audio_seconds))
    print(f"{len(records)} clips, {rows[0][4] / len(records):.2f} s each; wall time includes worker start-up")
    print(f"{'executor':9s} {'workers':>7s} {'wall s':>8s} {'clips/s':>8s} {'RTF':>7s}")
    for executor, workers, n, wall, audio_s in rows:
        print(f"{executor:9s} {workers:7d} {wall:8.1f} {n / wall:8.2f} {wall / audio_s:7.3f}")
    base = rows[0][3]
    for executor, workers, _, wall, _ in rows[1:]:
        print(f"scaling {executor} x{workers} vs local x1: {base / wall:.2f}x")


if __name__ == "__main__":
    main()
