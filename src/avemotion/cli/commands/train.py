"""``avemotion train``: cross-validate (or 8:1:1-split) a model on a feature store, keep a final model.

``avemotion train --recipe default [--data ../shared/data] [--out runs/recipe-default] [--install]`` builds a
bundled model from its recipe (``training/recipes.py``): corpora, extraction, cross-validation, final model and
card.json; ``--install`` copies it into the package (``avemotion/pretrained/<name>/``).

Writes under ``--out``: config.yaml, run.json, splits.json, per-fold checkpoints, model.* (for ``predict``),
metrics.json, predictions.csv, confusion.png; prints the metrics table. Rerunning the same command resumes.
``--workers N`` trains N folds at once (``--executor ray [--address HOST:PORT]``: as Ray tasks), with the same
numbers as one after another; ``--device cuda|cpu|auto`` picks where the model computes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avemotion.cli.commands._execution_args import add_execution_options, execution_from_args
from avemotion.cli.common import add_config_options, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train and evaluate a model on extracted features (k-fold or 8:1:1)")
    p.add_argument("--features", type=Path, metavar="FEATDIR", help="feature store (avemotion extract)")
    p.add_argument("--out", type=Path, metavar="RUNDIR", help="run folder (resumed when it exists)")
    p.add_argument("--recipe", metavar="NAME", help="build a bundled model from its recipe (e.g. default) instead")
    p.add_argument("--data", type=Path, default=Path("../shared/data"), metavar="DIR",
                   help="with --recipe: folder holding the recipe's corpora (default ../shared/data)")
    p.add_argument("--install", action="store_true",
                   help="with --recipe: copy model.json, model.safetensors and card.json into the package")
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
                   '"speaker", a corpus field such as "session", or "none" (k-fold folds ignore speakers)')
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs per fold")
    add_execution_options(p, "folds trained at once in N processes (default 1: one after another; the same "
                          "numbers either way); with --recipe: extraction processes (default 2)")
    add_config_options(p)
    p.set_defaults(func=run)


def _run_recipe(args: argparse.Namespace) -> int:
    from importlib import resources

    from avemotion.training.recipes import build, get_recipe

    recipe = get_recipe(args.recipe)
    install = Path(str(resources.files("avemotion").joinpath("pretrained", recipe.name))) if args.install else None
    rundir = build(recipe, args.data, args.out or Path("runs") / f"recipe-{recipe.name}",
                   workers=args.workers or 2, install=install)
    card = json.loads((rundir / "card.json").read_text())
    for name, m in card["metrics"].items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in m.items() if k in ("n", "wa", "ua")))
    print(f"model: {rundir}" + (f" (installed into {install})" if install else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    from avemotion.errors import AvemotionError
    from avemotion.models import MODELS

    if args.recipe:
        if args.features is not None:
            raise AvemotionError("--recipe gathers and extracts its own corpora; do not pass --features")
        return _run_recipe(args)
    if args.features is None or args.out is None:
        raise AvemotionError("give --features FEATDIR and --out RUNDIR (or --recipe NAME)")
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
    result = run_training(args.features, args.out, config, execution=execution_from_args(args))
    m = result.metrics
    print(f"{args.out}: UA {m['ua']:.3f}  WA {m['wa']:.3f}  F1 {m['f1_macro']:.3f}  "
          f"CC {m['cc'] if m['cc'] is None else round(m['cc'], 3)}  ({m['n']} test predictions)")
    return 0
