"""Options shared by sub-commands: ``--config FILE`` and ``--set section.key=value``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from avemotion.config import Config


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML config file (defaults: the paper's values)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set model.beta=0.5 (repeatable)",
    )


def config_from_args(args: argparse.Namespace, extra: dict[str, object] | None = None,
                     defaults: dict[str, object] | None = None) -> Config:
    """The effective config: defaults (the command's own ``defaults`` over the project's) <- --config <- --set <-
    dedicated flags (``extra``, None values skipped)."""
    from avemotion.config import Config, load_config  # pydantic: imported when a command runs, not for --help

    base = Config().with_overrides(defaults) if defaults else None
    config = load_config(getattr(args, "config", None), getattr(args, "overrides", None) or None, base)
    if extra:
        filtered = {k: v for k, v in extra.items() if v is not None}
        if filtered:
            config = config.with_overrides(filtered)
    return config


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """``--model RUNDIR|NAME``: a run folder or a bundled model's name (default: the bundled ``default``)."""
    parser.add_argument("--model", metavar="RUNDIR|NAME",
                        help="run folder of `avemotion train` or the name of a bundled model (`avemotion models`); "
                             "default: the bundled model `default`")
