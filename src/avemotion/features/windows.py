"""Windows of a recording: ``(start, end)`` spans in seconds, sorted by start, possibly overlapping.

:func:`windows` lays out sliding windows over a duration; the branches' ``extract_windows`` and
:func:`avemotion.data.extract.extract_windows` take such spans and compute each window's features from one
decoding pass over the file.
"""

from __future__ import annotations

from avemotion.errors import ConfigError

Span = tuple[float, float]

MIN_WINDOW = 0.5  # seconds: a shorter tail is merged into nothing (too short to analyse)


def windows(duration: float, window: float, hop: float) -> list[Span]:
    """Windows of ``window`` seconds every ``hop`` seconds over ``duration`` (the last one cut at the end; a
    tail shorter than :data:`MIN_WINDOW` is dropped unless it is the only window)."""
    if window <= 0 or hop <= 0:
        raise ConfigError("--window and --hop must be positive")
    out = []
    start = 0.0
    while start < duration - 1e-9:
        end = min(start + window, duration)
        if end - start >= MIN_WINDOW or not out:
            out.append((round(start, 6), round(end, 6)))
        if end >= duration:
            break
        start += hop
    return out
