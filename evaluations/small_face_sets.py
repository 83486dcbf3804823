"""Small face sets: a video-only model trained on a few clips per class against the expression CNN's zero-shot
answer (issue #27 item 2), leave-one-speaker-out, over several draws of the training clips.

    PYTHONPATH=src python evaluations/small_face_sets.py --features STORE --per-class 2 --seeds 0,1,2

STORE is a feature store of real faces (``avemotion extract``, default settings; e.g. the Javanese clips of
actors 01-05). Variants (``model.video_prior``): ``none`` (the paper's video network alone), ``residual`` (the
network learns a correction to the CNN's mapped probabilities, starting at zero) and ``zero_shot`` (the CNN's
mapped probabilities, nothing learned; the same for every draw). Each draw (``train.seed``) picks other
training clips per class in each fold (``train.train_per_class``); test folds are whole speakers. Runs are
written under ``--out`` and resume.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_table import print_table  # the sibling module, found through the path just set

from avemotion.config import Config
from avemotion.training.trainer import run_training
from avemotion.utils.progress import set_quiet

VARIANTS = ("zero_shot", "residual", "none")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("evaluations_out/small_face_sets"))
    ap.add_argument("--per-class", type=int, default=2)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more config overrides")
    args = ap.parse_args(argv)
    set_quiet(True)
    seeds = [int(s) for s in args.seeds.split(",")]
    table: dict[str, list[float]] = {}
    for variant in args.variants.split(","):
        for seed in seeds:
            config = Config().with_overrides({"train.modality": "video", "train.scheme": "logo",
                                              "train.train_per_class": args.per_class, "train.seed": seed,
                                              "model.video_prior": variant}).with_overrides(args.set)
            rundir = args.out / f"{variant}-k{args.per_class}-s{seed}"
            ua = run_training(args.features, rundir, config).metrics["ua"]
            table.setdefault(variant, []).append(ua)
            print(f"{variant} seed {seed}: UA {ua:.3f}  ({rundir})", flush=True)
    print_table(table, f"video only, {args.per_class} training clips per class, leave one speaker out (UA per draw)",
                reference="zero_shot" if "zero_shot" in table else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
