"""Per-clip inference latency of the three models in one run, as ratios to ours (cf. the paper's Table 3).

Same protocol as benchmarks/model_latency.py: batch 1, one thread, inputs collated and standardised
beforehand (network forward pass only), realistic sizes: audio X^a 30 x 1000 (3 s at 10 tokens/s), clip vector
12000, video 38 x 300 (2.5 s at 15 fps, 10 % of frames without a face), default (paper) model config. The
models run interleaved in rounds over the same clips, so load on a shared machine hits all of them alike.

    python benchmarks/model_comparison_latency.py [--clips 100 200 300 400 500] [--modality av] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from avemotion.config import ModelConfig
from avemotion.data.batch import collate
from avemotion.data.dims import FeatureDims
from avemotion.models.registry import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_latency import make_clips  # the same synthetic inputs as the single-model benchmark

MODELS = ("bimodal", "lstm", "dean")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, nargs="+", default=[100, 200, 300, 400, 500])
    ap.add_argument("--modality", choices=["av", "audio", "video"], default="av")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--rounds", type=int, default=3, help="repetitions; the fastest round is reported")
    ap.add_argument("--seq-dim", type=int, default=1000)
    ap.add_argument("--vec-dim", type=int, default=12000)
    ap.add_argument("--video-dim", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    a = args.modality in ("av", "audio")
    v = args.modality in ("av", "video")
    dims = FeatureDims(args.seq_dim if a else 0, args.vec_dim if a else 0, args.video_dim if v else 0)
    models = {}
    for name in args.models:
        torch.manual_seed(0)
        models[name] = build_model(name, dims, 9, ModelConfig()).eval()
    rng = np.random.default_rng(0)
    per_n: dict[int, dict[str, float]] = {}
    medians: dict[int, dict[str, float]] = {}
    with torch.inference_mode():
        warm = [collate([c], dims, None) for c in make_clips(20, dims, rng)]
        for m in models.values():
            for b in warm:
                m(b)
        for n in args.clips:
            batches = [collate([c], dims, None) for c in make_clips(n, dims, rng)]
            best = {name: float("inf") for name in models}
            clip_ms: dict[str, list[float]] = {name: [] for name in models}
            for _ in range(args.rounds):
                total = dict.fromkeys(models, 0.0)
                for b in batches:  # models interleaved clip by clip: load spikes hit all of them alike
                    for name, m in models.items():
                        t0 = time.perf_counter()
                        m(b)
                        dt = (time.perf_counter() - t0) * 1000
                        total[name] += dt
                        clip_ms[name].append(dt)
                for name in models:
                    best[name] = min(best[name], total[name])
            per_n[n] = best
            medians[n] = {name: float(np.median(v)) for name, v in clip_ms.items()}
    ref = args.models[0]
    params = {name: sum(p.numel() for p in m.parameters()) / 1e6 for name, m in models.items()}
    table = Table(title=f"total ms to predict N clips ({args.modality}, batch 1, 1 thread, best of {args.rounds}, "
                        f"torch {torch.__version__}); ratio to {ref} in brackets")
    table.add_column("clips", justify="right")
    for name in models:
        table.add_column(f"{name} ({params[name]:.2f} M)", justify="right")
    for n, best in per_n.items():
        table.add_row(str(n), *[f"{best[name]:.1f} ({best[name] / best[ref]:.2f}x)" for name in models])
    table.add_row("mean ms / clip", *[f"{np.mean([per_n[n][name] / n for n in per_n]):.3f}" for name in models],
                  style="bold")
    med = {name: float(np.median([medians[n][name] for n in medians])) for name in models}
    table.add_row("median ms / clip", *[f"{med[name]:.3f} ({med[name] / med[ref]:.2f}x)" for name in models],
                  style="bold")
    Console().print(table)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
