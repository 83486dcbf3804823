"""Compare the classification losses (cross-entropy vs the paper's L1, eq. 20) by speaker-grouped 5-fold CV
on the synthetic feature-level problem of avemotion.training.toy (audio holds one factor, video the other).

    python benchmarks/loss_comparison.py [--seeds 0 1] [--signal 1.0] [--clips 240] [--epochs 40] [--out DIR]

Prints pooled UA / WA / macro-F1 per loss and data seed, and their mean; the paper's model sizes are used
unless --tiny is given. Also runs audio-only and video-only with the default loss for reference (--modalities).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from avemotion.config import Config
from avemotion.training.toy import make_toy_store
from avemotion.training.trainer import run_training
from avemotion.utils.progress import set_quiet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--signal", type=float, default=1.0)
    ap.add_argument("--clips", type=int, default=240)
    ap.add_argument("--speakers", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--tiny", action="store_true", help="small model dims (fast)")
    ap.add_argument("--modalities", action="store_true", help="also audio-only and video-only with the CE loss")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    set_quiet(True)
    torch.set_num_threads(1)
    out = args.out or Path(tempfile.mkdtemp(prefix="avemotion-losses-"))
    base = {"train.epochs": args.epochs, "train.final_model": "best_fold", "train.threads": 1}
    if args.tiny:
        base.update({"model.rnn_hidden": 32, "model.lstm_hidden": 32, "model.proj_dim": 32, "model.attn_dim": 16})
    runs = [("ce", "av"), ("l1", "av")]
    if args.modalities:
        runs += [("ce", "audio"), ("ce", "video")]
    table = Table(title=f"loss comparison: toy problem, {args.clips} clips, {args.speakers} speakers, signal "
                        f"{args.signal}, speaker-grouped 5-fold CV (pooled test predictions)")
    for col in ("loss", "modality", "data seed", "UA", "WA", "F1", "epochs (mean best)", "seconds"):
        table.add_column(col, justify="right")
    summary: dict[tuple[str, str], list[float]] = {}
    for seed in args.seeds:
        store = out / f"toy{seed}"
        if not (store / "store.json").is_file():
            make_toy_store(store, n_clips=args.clips, n_speakers=args.speakers, signal=args.signal, seed=seed)
        for loss, modality in runs:
            cfg = Config().with_overrides({**base, "model.loss": loss, "train.modality": modality})
            m = run_training(store, out / f"run-{loss}-{modality}-{seed}", cfg).metrics
            summary.setdefault((loss, modality), []).append(m["ua"])
            best = np.mean([f["best_epoch"] + 1 for f in m["per_fold"]])
            table.add_row(loss, modality, str(seed), f"{m['ua']:.3f}", f"{m['wa']:.3f}", f"{m['f1_macro']:.3f}",
                          f"{best:.1f}", f"{m['train_seconds']:.0f}")
    for (loss, modality), uas in summary.items():
        table.add_row(loss, modality, "mean", f"{np.mean(uas):.3f}", "", "", "", "", style="bold")
    Console().print(table)
    print(f"runs under {out}")


if __name__ == "__main__":
    main()
