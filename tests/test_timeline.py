from __future__ import annotations

import pytest

from avemotion.errors import ConfigError
from avemotion.inference.timeline import windows


def test_windows_cover_the_recording() -> None:
    w = windows(10.0, 3.0, 1.5)
    assert w[0] == (0.0, 3.0) and w[-1][1] == 10.0
    assert all(b - a <= 3.0 + 1e-9 for a, b in w)
    starts = [a for a, _ in w]
    assert all(abs((y - x) - 1.5) < 1e-9 for x, y in zip(starts, starts[1:]))


def test_short_tail_dropped_but_short_file_kept() -> None:
    assert windows(6.2, 3.0, 3.0) == [(0.0, 3.0), (3.0, 6.0)]  # a 0.2 s tail is too short to analyse
    assert windows(0.3, 3.0, 1.5) == [(0.0, 0.3)]  # a short recording is still one window


def test_bad_window() -> None:
    with pytest.raises(ConfigError):
        windows(10.0, 0.0, 1.0)
