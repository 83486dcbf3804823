"""Progress bars that a global ``--quiet`` switches off."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tqdm.auto import tqdm

T = TypeVar("T")

_QUIET = os.environ.get("AVEMOTION_QUIET", "") not in ("", "0")


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet
    os.environ["AVEMOTION_QUIET"] = "1" if quiet else "0"  # inherited by worker processes


def is_quiet() -> bool:
    return _QUIET


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """``tqdm`` on stderr, disabled when quiet or when stderr is not a terminal and not forced."""
    from tqdm.auto import tqdm  # imported on first use: keeps the CLI start fast

    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    if not getattr(kwargs["file"], "isatty", lambda: False)():
        kwargs.setdefault("mininterval", 10.0)  # logs and CI: an update every 10 s, not every item
    return tqdm(iterable, disable=_QUIET or kwargs.pop("disable", False), **kwargs)


@contextmanager
def muted() -> Iterator[None]:
    """Status messages (:func:`log`) off inside the block, in this process only: a step that repeats one made
    and reported elsewhere."""
    global _QUIET
    before, _QUIET = _QUIET, True
    try:
        yield
    finally:
        _QUIET = before


def log(message: str) -> None:
    """A one-line status message on stderr (suppressed by --quiet)."""
    if not _QUIET:
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A one-line warning on stderr (shown even with --quiet)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
