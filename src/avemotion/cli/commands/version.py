"""``avemotion version``: package and key dependency versions."""

from __future__ import annotations

import argparse
import platform
from importlib import metadata

from avemotion import __version__

_DEPS = ("torch", "numpy", "av", "opensmile", "mediapipe", "opencv-contrib-python", "scikit-learn")
#: packages of the extras (``pip install 'avemotion[web,ray]'``): listed, or "not installed"
_EXTRAS = ("fastapi", "uvicorn", "ray")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("version", help="print versions of avemotion and its main dependencies")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"avemotion {__version__} (Python {platform.python_version()})")
    for dist in _DEPS + _EXTRAS:
        try:
            print(f"  {dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            print(f"  {dist} not installed")
    return 0
