"""A process's resident memory and thread count (Linux ``/proc``), for leak tests and soak benchmarks."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    rss_mib: float  # resident set size
    threads: int


def usage(pid: int | None = None) -> Usage:
    """Resident memory and threads of ``pid`` (default: this process), from ``/proc/PID/status``."""
    fields: dict[str, str] = {}
    with open(f"/proc/{pid or os.getpid()}/status", encoding="ascii") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return Usage(int(fields["VmRSS"].split()[0]) / 1024.0, int(fields["Threads"]))


def slope(values: list[float]) -> float:
    """Robust trend of a series against its index (Theil-Sen: the median of the pairwise slopes), e.g. MiB
    per step for RSS readings; a one-off jump of the allocator moves it far less than a least-squares fit."""
    pairs = sorted((values[j] - values[i]) / (j - i) for i in range(len(values)) for j in range(i + 1, len(values)))
    if not pairs:
        return 0.0
    mid = len(pairs) // 2
    return pairs[mid] if len(pairs) % 2 else (pairs[mid - 1] + pairs[mid]) / 2.0
