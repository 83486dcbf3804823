"""``avemotion make-corpus``: write the built-in synthetic audio-video emotion corpus."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from avemotion.errors import ConfigError
from avemotion.utils.progress import log

if TYPE_CHECKING:
    from avemotion.data.synthetic.corpus import CorpusParams


def add_corpus_options(p: argparse.ArgumentParser, *, per_class: int, speakers: int, seconds: float) -> None:
    p.add_argument("--per-class", type=int, default=per_class, metavar="N",
                   help=f"clips per emotion (default {per_class})")
    p.add_argument("--speakers", type=int, default=speakers, metavar="S",
                   help=f"synthetic speakers (default {speakers})")
    p.add_argument("--seconds", type=float, default=seconds, metavar="T",
                   help=f"clip length in seconds (default {seconds:g})")
    p.add_argument("--seed", type=int, default=0, metavar="K", help="random seed; same seed, same corpus (default 0)")
    p.add_argument("--workers", type=int, default=2, metavar="W", help="parallel processes (default 2)")
    # checked by CorpusParams (the synthetic profiles need numpy: not imported to build the parser)
    p.add_argument("--labels", default="paper9", help="label set with synthetic profiles (default paper9)")


def params_from_args(args: argparse.Namespace) -> CorpusParams:
    from avemotion.data.synthetic.corpus import CorpusParams

    try:
        return CorpusParams(per_class=args.per_class, speakers=args.speakers, seconds=args.seconds, seed=args.seed,
                            labels=args.labels)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"invalid corpus options: {exc.args[0] if exc.args else exc}") from None


def build(out: Path, params: CorpusParams, workers: int) -> dict[str, object]:
    """Generate (or resume, or reuse) the corpus in ``out``; logs what happened."""
    from avemotion.data.synthetic.corpus import generate_corpus, is_complete
    from avemotion.data.synthetic.profiles import label_names

    if is_complete(out, params):
        log(f"synthetic corpus in {out} is complete ({params.per_class} per class, {params.speakers} speakers): reused")
    else:
        n = params.per_class * len(label_names(params.labels))
        log(f"writing the synthetic corpus to {out}: {n} clips of {params.duration:.2f} s with {workers} workers")
    t0 = time.perf_counter()
    info = generate_corpus(out, params, workers=max(1, workers))
    if info.get("generated"):
        log(f"generated {info['generated']} clips in {time.perf_counter() - t0:.1f} s")
    return info


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("make-corpus", help="write the built-in synthetic audio-video emotion corpus")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    add_corpus_options(p, per_class=20, speakers=5, seconds=2.5)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    info = build(args.out, params, args.workers)
    print(f"{args.out}: {info['clips']} clips, metadata {args.out / 'metadata.csv'}")
    return 0
