"""``avemotion demo``: the whole pipeline on the built-in synthetic corpus, end to end.

Stages run in order and each writes under ``--out``; the effective config is saved as ``config.yaml``.
Each stage is a function ``stage(ctx: DemoContext) -> None`` listed in :data:`STAGES`; later stages
(feature extraction, training, evaluation, prediction, report) are added to that list and read what the
earlier ones left in the context (``ctx.corpus_dir``, ``ctx.metadata``, ...).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from avemotion.cli.commands.make_corpus import add_corpus_options, build, params_from_args
from avemotion.cli.common import add_config_options, config_from_args
from avemotion.config import Config
from avemotion.data.synthetic.corpus import CorpusParams, read_metadata
from avemotion.media import probe
from avemotion.utils.progress import log, progress

#: small defaults so that the whole pipeline finishes in minutes on two cores
DEMO_PER_CLASS = 20
DEMO_SPEAKERS = 5
DEMO_SECONDS = 2.5


@dataclass
class DemoContext:
    out: Path
    config: Config
    corpus_params: CorpusParams
    workers: int
    corpus_dir: Path = Path()
    metadata: list[dict[str, str]] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)  # relative path -> seconds
    results: dict[str, object] = field(default_factory=dict)  # what later stages report


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the pipeline end to end on the built-in synthetic corpus")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    add_corpus_options(p, per_class=DEMO_PER_CLASS, speakers=DEMO_SPEAKERS, seconds=DEMO_SECONDS)
    add_config_options(p)
    p.set_defaults(func=run)


def stage_corpus(ctx: DemoContext) -> None:
    """Generate the synthetic corpus into OUT/corpus (reused when complete with the same parameters)."""
    ctx.corpus_dir = ctx.out / "corpus"
    build(ctx.corpus_dir, ctx.corpus_params, ctx.workers)
    ctx.metadata = read_metadata(ctx.corpus_dir / "metadata.csv")
    for row in progress(ctx.metadata, desc="checking clips", unit="clip"):
        ctx.durations[row["path"]] = probe(ctx.corpus_dir / row["path"]).duration
    print(corpus_summary(ctx.metadata, ctx.durations))


def corpus_summary(metadata: list[dict[str, str]], durations: dict[str, float]) -> str:
    """A plain-text table: clips per label and speaker, and the total and mean duration per label."""
    speakers = sorted({r["speaker"] for r in metadata})
    labels = list(dict.fromkeys(r["label"] for r in metadata))
    counts = Counter((r["label"], r["speaker"]) for r in metadata)
    head = ["label", *speakers, "clips", "mean s", "total s"]
    rows = []
    for label in labels:
        durs = [durations.get(r["path"], 0.0) for r in metadata if r["label"] == label]
        rows.append([label, *(str(counts[(label, s)]) for s in speakers), str(len(durs)),
                     f"{sum(durs) / max(len(durs), 1):.2f}", f"{sum(durs):.1f}"])
    all_d = list(durations.values())
    rows.append(["all", *(str(sum(counts[(lb, s)] for lb in labels)) for s in speakers), str(len(metadata)),
                 f"{sum(all_d) / max(len(all_d), 1):.2f}", f"{sum(all_d):.1f}"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)])


#: the demo's stages, in order (later issues append extract, train, evaluate, predict, report)
STAGES: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("synthetic corpus", stage_corpus),
]


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    params = params_from_args(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "config.yaml")
    ctx = DemoContext(out=out, config=config, corpus_params=params, workers=args.workers)
    for i, (name, stage) in enumerate(STAGES, 1):
        log(f"[{i}/{len(STAGES)}] {name}")
        stage(ctx)
    return 0
