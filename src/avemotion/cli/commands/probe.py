"""``avemotion probe FILE...``: streams, duration, rates of media files (batch: failures reported at the end)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avemotion.errors import AvemotionError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("probe", help="show what media files hold (streams, duration, rates)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from avemotion.media import probe

    infos, failures = [], []
    for path in args.files:
        try:
            infos.append(probe(path))
        except AvemotionError as exc:
            failures.append((path, exc))
    if args.json:
        for info in infos:
            print(json.dumps(info.to_dict()))
    else:
        table = Table("file", "audio", "video", "duration s", "sample rate", "channels", "fps", "size")
        for i in infos:
            table.add_row(
                Path(i.path).name,
                i.audio_codec or "-",
                i.video_codec or "-",
                f"{i.duration:.2f}",
                str(i.sample_rate or "-"),
                str(i.channels or "-"),
                f"{i.fps:.2f}" if i.fps else "-",
                f"{i.width}x{i.height}" if i.width else "-",
            )
        Console().print(table)
    for _path, exc in failures:
        print(f"failed: {exc}")  # the message names the file
    return 1 if failures and not infos else 0
