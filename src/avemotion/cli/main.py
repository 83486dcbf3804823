"""Entry point: ``avemotion [--quiet] [--debug] COMMAND ...``.

Each sub-command is a module in ``avemotion.cli.commands`` with ``register(subparsers)``; it sets
``func(args) -> int`` on its parser. Errors derived from :class:`AvemotionError` are printed as one line
without a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from avemotion import __version__
from avemotion.errors import AvemotionError
from avemotion.utils.progress import set_quiet

#: sub-command modules, in the order ``--help`` lists them
COMMAND_MODULES = [
    "demo",
    "make_corpus",
    "corpus",
    "extract",
    "train",
    "predict",
    "session",
    "models",
    "compare",
    "probe",
    "serve",
    "version",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avemotion",
        description="Audio-video (bimodal) emotion recognition: extract features, train, evaluate, compare, predict.",
    )
    parser.add_argument("--version", action="version", version=f"avemotion {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or status lines")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"avemotion.cli.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    set_quiet(args.quiet)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AvemotionError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"avemotion: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("avemotion: interrupted (finished work is kept; run the same command again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
