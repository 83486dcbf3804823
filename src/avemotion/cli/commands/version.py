"""``avemotion version``: package and key dependency versions."""

from __future__ import annotations

import argparse
import platform
from importlib import metadata

from avemotion import __version__

_DEPS = ("torch", "numpy", "av", "librosa", "opensmile", "mediapipe", "opencv-contrib-python", "scikit-learn")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("version", help="print versions of avemotion and its main dependencies")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"avemotion {__version__} (Python {platform.python_version()})")
    for dist in _DEPS:
        try:
            print(f"  {dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            print(f"  {dist} not installed")
    return 0
