"""``avemotion train``: cross-validate (or 8:1:1-split) a model on a feature store, keep a final model.

Writes under ``--out``: config.yaml, run.json, splits.json, per-fold checkpoints, model.* (for ``predict``),
metrics.json, predictions.csv, confusion.png; prints the metrics table. Rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from avemotion.cli.common import add_config_options, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train and evaluate a model on extracted features (k-fold or 8:1:1)")
    p.add_argument("--features", type=Path, required=True, metavar="FEATDIR", help="feature store (avemotion extract)")
    p.add_argument("--out", type=Path, required=True, metavar="RUNDIR", help="run folder (resumed when it exists)")
    p.add_argument("--model", default=None, help="registered model name (default: model.name, 'bimodal')")
    p.add_argument("--modality", choices=["av", "audio", "video"], default=None,
                   help="use both modalities (default) or one")
    scheme = p.add_mutually_exclusive_group()
    scheme.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation (speaker-grouped when known)")
    scheme.add_argument("--split", metavar="TR:VA:TE", help="one random stratified split, e.g. 8:1:1")
    scheme.add_argument("--loso", action="store_true",
                        help="leave one group out (a speaker; with --group-by session, IEMOCAP's sessions)")
    p.add_argument("--group-by", default=None, metavar="FIELD",
                   help='what folds keep together: "auto" (default: session for IEMOCAP, else speaker), '
                   '"speaker" or a corpus field such as "session"')
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs per fold")
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from avemotion.models import MODELS
    from avemotion.training.trainer import run_training

    extra: dict[str, object] = {"train.modality": args.modality, "train.epochs": args.epochs, "model.name": args.model,
                                "train.group_by": args.group_by}
    if args.cv is not None:
        extra.update({"train.scheme": "kfold", "train.folds": args.cv})
    elif args.split is not None:
        extra.update({"train.scheme": "split", "train.split": args.split})
    elif args.loso:
        extra["train.scheme"] = "logo"
    config = config_from_args(args, extra)
    if config.model.name not in MODELS:
        from avemotion.errors import ConfigError

        raise ConfigError(f"unknown model {config.model.name!r}; known: {', '.join(MODELS.names())}")
    result = run_training(args.features, args.out, config)
    m = result.metrics
    print(f"{args.out}: UA {m['ua']:.3f}  WA {m['wa']:.3f}  F1 {m['f1_macro']:.3f}  "
          f"CC {m['cc'] if m['cc'] is None else round(m['cc'], 3)}  ({m['n']} test predictions)")
    return 0
