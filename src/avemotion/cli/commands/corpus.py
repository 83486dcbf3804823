"""``avemotion corpus info --corpus NAME --root DIR``: clips per label, speakers, modalities, durations."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from avemotion.cli.commands._corpus_args import add_corpus_arguments, corpus_from_args
from avemotion.errors import AvemotionError
from avemotion.modality import DESCRIPTIONS
from avemotion.utils.progress import progress


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("corpus", help="inspect a corpus on disk")
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="clips per label, speakers, modalities and durations")
    add_corpus_arguments(info)
    info.add_argument("--no-durations", action="store_true", help="skip reading each file's duration")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=run_info)


def run_info(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from avemotion.media import probe

    corpus, records, label_set = corpus_from_args(args)
    durations: list[float] = []
    unreadable = []
    if not args.no_durations:
        for rec in progress(records, desc="probing", unit="clip"):
            path = rec.audio_path or rec.video_path
            try:
                if "video_start" in rec.extra and "video_end" in rec.extra:
                    durations.append(float(rec.extra["video_end"]) - float(rec.extra["video_start"]))
                else:
                    durations.append(probe(path).duration)  # type: ignore[arg-type]
            except AvemotionError as exc:
                unreadable.append(str(exc))
    labels = Counter(r.label for r in records)
    speakers = Counter(r.speaker or "(unknown)" for r in records)
    modalities = Counter(DESCRIPTIONS[r.modality] for r in records if r.modality)
    summary = {
        "corpus": corpus.name,
        "root": str(args.root),
        "clips": len(records),
        "label_set": label_set.name,
        "labels": {label: labels.get(label, 0) for label in label_set.labels},
        "speakers": len(speakers),
        "clips_per_speaker": dict(sorted(speakers.items())),
        "modalities": dict(modalities),
        "duration_s": _stats(durations),
        "unreadable": unreadable,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    console = Console()
    console.print(f"[bold]{corpus.name}[/] at {args.root}: {len(records)} clips, {len(speakers)} speakers, "
                  f"label set {label_set.name}")
    table = Table("label", "clips", "share")
    for label in label_set.labels:
        n = labels.get(label, 0)
        table.add_row(label, str(n), f"{n / len(records):.1%}")
    console.print(table)
    console.print("modalities: " + ", ".join(f"{k} {v}" for k, v in modalities.items()))
    if durations:
        d = summary["duration_s"]
        console.print(f"duration: total {d['total'] / 60:.1f} min, mean {d['mean']:.2f} s, "
                      f"min {d['min']:.2f} s, max {d['max']:.2f} s")
    for msg in unreadable:
        console.print(f"[red]unreadable:[/] {msg}")
    return 0


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"total": sum(values), "mean": sum(values) / len(values), "min": min(values), "max": max(values)}
