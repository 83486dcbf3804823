"""``avemotion extract``: a corpus -> a feature store (parallel, resumable, failures listed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from avemotion.cli.commands._corpus_args import add_corpus_arguments, corpus_from_args
from avemotion.cli.common import add_config_options, config_from_args

if TYPE_CHECKING:
    from avemotion.data.pipeline import ExtractionSummary


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("extract", help="extract audio and video features of a corpus into a feature store")
    add_corpus_arguments(p)
    p.add_argument("--out", required=True, type=Path, help="feature store folder (FEATDIR)")
    p.add_argument("--workers", type=int, default=1, help="parallel workers (default 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: process pool on this machine; ray: Ray actors (local instance or --address)")
    p.add_argument("--address", help="Ray cluster address (with --executor ray); default: start a local instance")
    p.add_argument("--modality", choices=("av", "audio", "video"), default="av", help="which branches to run")
    p.add_argument("--limit", type=int, help="only the first N clips (for a quick look)")
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from avemotion.data.pipeline import run_extraction

    config = config_from_args(args)
    corpus, records, label_set = corpus_from_args(args)
    if args.limit:
        records = records[: args.limit]
    config = config.with_overrides({"label_set": label_set.name}) if label_set.name != config.label_set else config
    summary = run_extraction(
        records, args.out, config, corpus=corpus.name, label_set=label_set, workers=args.workers,
        executor=args.executor, address=args.address, modality=args.modality,
    )
    print_summary(summary, args.out)
    return 0 if summary.done + summary.partial + summary.skipped > 0 else 1


def print_summary(summary: ExtractionSummary, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("clips", "done", "partial", "skipped (cached)", "failed", "s / clip", "real-time factor", "wall s")
    table.add_row(str(summary.total), str(summary.done), str(summary.partial), str(summary.skipped),
                  str(summary.failed), f"{summary.seconds_per_clip:.3f}",
                  f"{summary.real_time_factor:.3f}" if summary.real_time_factor else "-", f"{summary.wall_seconds:.1f}")
    console.print(table)
    if summary.dims:
        dims = Table("features", "dimensions")
        for key, value in summary.dims.items():
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
            dims.add_row(key, shown)
        console.print(dims)
    if summary.failures:
        console.print(f"[yellow]{len(summary.failures)} clips failed or lost a modality; "
                      f"see {out / 'failures.csv'}:[/]")
        for f in summary.failures[:10]:
            console.print(f"  {f['status']:8s} {f['reason']:14s} {f['message']}")
        if len(summary.failures) > 10:
            console.print(f"  ... and {len(summary.failures) - 10} more")
    console.print(f"feature store: {out}")
