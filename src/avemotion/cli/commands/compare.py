"""``avemotion compare``: the proposed model against the baselines and its ablations, on identical folds.

    avemotion compare --features FEATDIR --models bimodal,lstm,dean,bimodal-nocma --cv 5 --out DIR

Writes results.csv/json, folds.csv, groups.csv, cc_per_class.csv, latency.csv, significance.csv,
predictions.csv, PNG figures and DIR/report.md; prints a table. Rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from avemotion.cli.commands._execution_args import add_execution_options, execution_from_args
from avemotion.cli.common import add_config_options, config_from_args


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("clip counts must be positive")
    return values


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help="compare the model with the baselines (lstm, dean) and ablations")
    p.add_argument("--features", type=Path, required=True, metavar="FEATDIR", help="feature store (avemotion extract)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (resumed when it exists)")
    p.add_argument("--models", default="bimodal,lstm,dean",
                   help="comma-separated models/variants: bimodal, lstm, dean, NAME-audio, NAME-video, bimodal-nocma, "
                        "bimodal-norec, bimodal-nodf, bimodal-nomfcc, bimodal-noopensmile, bimodal-nosoundnet "
                        "(default: bimodal,lstm,dean)")
    p.add_argument("--reference", default=None, help="model the significance tests compare against (default: bimodal)")
    p.add_argument("--modality", choices=["auto", "av", "audio", "video"], default="auto",
                   help="modality of every model without its own (auto: what the store has)")
    scheme = p.add_mutually_exclusive_group()
    scheme.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation (speaker-grouped when known)")
    scheme.add_argument("--loso", action="store_true", help="leave one speaker out")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs per fold, the same for every model")
    p.add_argument("--groups", type=int, default=15, help="random groups of the pooled test clips (paper: 15)")
    p.add_argument("--latency-clips", type=_int_list, default=[100, 200, 300, 400, 500], metavar="N,N,...",
                   help="data volumes for the latency table (default 100,200,300,400,500; empty string: skip)")
    add_execution_options(p, "model folds trained at once in N processes (default 1: one after another); the "
                          "same numbers either way")
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from avemotion.errors import ConfigError
    from avemotion.training.compare import run_compare

    extra: dict[str, object] = {"train.epochs": args.epochs}
    if args.cv is not None:
        extra.update({"train.scheme": "kfold", "train.folds": args.cv})
    elif args.loso:
        extra["train.scheme"] = "logo"
    if args.modality != "auto":
        extra["train.modality"] = args.modality
    config = config_from_args(args, extra)
    if args.groups < 1:
        raise ConfigError("--groups must be at least 1")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    run_compare(args.features, args.out, config, models, groups=args.groups,
                latency_clips=tuple(args.latency_clips), reference=args.reference,
                auto_modality=args.modality == "auto", execution=execution_from_args(args))
    print(f"{args.out}: report.md, results.csv, results.json and figures written")
    return 0
