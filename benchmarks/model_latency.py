"""Per-clip inference latency of the bimodal model alone: batch 1, one thread, realistic input sizes.

Inputs: audio X^a sequence 30 x 1000 (3 s at 10 tokens/s), clip vector 12000, video 38 x 300 (2.5 s at 15 fps,
10 % of frames without a face). Inputs are collated and standardised beforehand: the figure is the network's
forward pass only, as the paper's Table 3 (16-21 ms). Target: <= 2 ms per clip.

    python benchmarks/model_latency.py [--clips 100 200 300 400 500] [--modality av]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from avemotion.config import ModelConfig
from avemotion.data.dims import FeatureDims
from avemotion.features.record import ClipFeatures
from avemotion.models.bimodal import count_parameters
from avemotion.models.registry import build_model
from avemotion.training.latency import time_clips


def make_clips(n: int, dims: FeatureDims, rng: np.random.Generator) -> list[ClipFeatures]:
    clips = []
    for i in range(n):
        ta, tv = 30 + int(rng.integers(-3, 4)), 38 + int(rng.integers(-4, 5))
        mask = rng.random(tv) > 0.1
        clips.append(ClipFeatures(
            f"c{i}",
            rng.normal(size=(ta, dims.audio_seq)).astype(np.float32) if dims.audio_seq else None,
            rng.normal(size=dims.audio_vec).astype(np.float32) if dims.audio_vec else None,
            rng.normal(size=(tv, dims.video)).astype(np.float32) if dims.video else None,
            mask if dims.video else None))
    return clips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, nargs="+", default=[100, 200, 300, 400, 500])
    ap.add_argument("--modality", choices=["av", "audio", "video"], default="av")
    ap.add_argument("--seq-dim", type=int, default=1000)
    ap.add_argument("--vec-dim", type=int, default=12000)
    ap.add_argument("--video-dim", type=int, default=300)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="model config override, e.g. --set lstm_hidden=128 (default: the paper's sizes)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    a = args.modality in ("av", "audio")
    v = args.modality in ("av", "video")
    dims = FeatureDims(args.seq_dim if a else 0, args.vec_dim if a else 0, args.video_dim if v else 0)
    torch.manual_seed(0)
    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.overrides)}
    model = build_model("bimodal", dims, 9, ModelConfig(**overrides)).eval()
    rng = np.random.default_rng(0)
    sizes = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "paper sizes"
    table = Table(title=f"bimodal ({args.modality}, {sizes}), {count_parameters(model) / 1e6:.2f} M parameters, "
                        f"batch 1, 1 thread, torch {torch.__version__}")
    for col in ("clips", "total ms", "ms / clip", "median ms", "p95 ms"):
        table.add_column(col, justify="right")
    time_clips(model, make_clips(20, dims, rng), dims, None, include_collate=False, warmup=20)  # warm-up
    for n in args.clips:
        lat = time_clips(model, make_clips(n, dims, rng), dims, None, include_collate=False, warmup=0).to_dict()
        table.add_row(str(n), f"{lat['total_ms']:.1f}", f"{lat['ms_per_clip']:.3f}", f"{lat['median_ms']:.3f}",
                      f"{lat['p95_ms']:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
