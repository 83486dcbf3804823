"""Options shared by ``train`` and ``compare``: where the folds run (--workers, --executor, --address) and
where the models compute (--device); see :mod:`avemotion.training.parallel` and
:mod:`avemotion.models.device`."""

from __future__ import annotations

import argparse

#: avemotion.models.device.DEVICES (not imported here: torch would slow down ``avemotion --help``)
DEVICES = ("cpu", "cuda", "auto")


def add_device_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--device", default="cpu", metavar="|".join(DEVICES),
                        help=f"where the model computes for {what}: cpu (default), cuda (needs a CUDA "
                             "build of torch), or auto (cuda when available, else cpu)")


def add_execution_options(parser: argparse.ArgumentParser, workers_help: str | None = None) -> None:
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help=workers_help or "folds trained at once in N processes (default 1: one after "
                        "another); the same numbers either way")
    parser.add_argument("--executor", choices=["local", "ray"], default="local",
                        help="local: --workers processes on this machine (default); ray: the folds as Ray "
                             "tasks (pip install 'avemotion[ray]'); the store and --out must then be on a "
                             "filesystem every Ray machine sees at the same path")
    parser.add_argument("--address", default=None, metavar="HOST:PORT",
                        help="with --executor ray: the Ray cluster to join (default: a local Ray instance)")
    add_device_option(parser, "training")


def execution_from_args(args: argparse.Namespace):  # returns an avemotion.training.parallel.Execution
    from avemotion.training.parallel import Execution

    return Execution(workers=args.workers or 1, executor=args.executor, address=args.address,
                     device=args.device)
